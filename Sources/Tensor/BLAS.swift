import COpenBLAS

/// The OpenBLAS library the kernels run on.
///
/// OpenBLAS picks its kernels (`OPENBLAS_CORETYPE`) when it loads, before `main`; only the
/// thread count can still be changed from inside the process. The kernels call `sgemm` from
/// their own workers (`KernelThreads`), so it runs single-threaded: the first call sets OpenBLAS
/// to one thread. Concurrent single-threaded calls from several threads are safe in OpenBLAS
/// (its buffers are per thread) and give the same results as one call.
public enum BLAS {
    private static let singleThreaded: Void = openblas_set_num_threads(1)

    /// Threads OpenBLAS uses for one GEMM: 1 once a kernel has run, unless set again
    /// (`vqtok bench conv` does, to measure the machine's multi-threaded sgemm peak).
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the threads OpenBLAS uses for one GEMM (at least 1).
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// c[m,n] = alpha · op(a)[m,k] · op(b)[k,n] + beta · c, all row-major.
    /// `lda`, `ldb`, `ldc` are the row strides of a, b, c as stored (before transposition).
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreaded
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}
