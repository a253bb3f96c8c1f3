import Foundation

/// Single-head self-attention over spatial positions (taming's AttnBlock core, SDPA with one
/// head of dimension C and scale 1/√C).
///
///     q, k, v [B, C, N]       (N = H·W positions; NCHW activations read as [B, C, H·W])
///     scores  scratch, grown to N·N and reused
///     out     [B, C, N]       out[b, :, i] = Σ_j softmax_j(q[b,:,i]·k[b,:,j] / √C) · v[b, :, j]
public func spatialAttention(_ out: inout Tensor, q: Tensor, k: Tensor, v: Tensor, scores: inout [Float]) {
    precondition(q.shape.count >= 3 && q.shape == k.shape && q.shape == v.shape,
                 "spatialAttention: q \(q.shape), k \(k.shape), v \(v.shape) must match")
    let (batch, channels) = (q.shape[0], q.shape[1])
    let n = q.count / max(1, batch * channels)
    out.resize(to: q.shape)
    if scores.count < n * n { scores.append(contentsOf: repeatElement(0, count: n * n - scores.count)) }
    let scale = 1 / Float(channels).squareRoot()

    q.storage.withUnsafeBufferPointer { qBuf in
    k.storage.withUnsafeBufferPointer { kBuf in
    v.storage.withUnsafeBufferPointer { vBuf in
    out.storage.withUnsafeMutableBufferPointer { outBuf in
    scores.withUnsafeMutableBufferPointer { sBuf in
        let s = sBuf.baseAddress!
        for b in 0..<batch {
            let offset = b * channels * n
            // s[i, j] = q[:, i] · k[:, j] / √C        ([N, C] × [C, N])
            BLAS.sgemm(transA: true, m: n, n: n, k: channels, alpha: scale,
                       a: qBuf.baseAddress! + offset, lda: n, b: kBuf.baseAddress! + offset, ldb: n,
                       c: s, ldc: n)
            softmaxRows(s, rows: n, columns: n)
            // out[:, i] = Σ_j v[:, j] · s[i, j]        ([C, N] × [N, N]ᵀ)
            BLAS.sgemm(transB: true, m: channels, n: n, k: n,
                       a: vBuf.baseAddress! + offset, lda: n, b: s, ldb: n,
                       c: outBuf.baseAddress! + offset, ldc: n)
        }
    }
    }
    }
    }
    }
}

/// Numerically stable softmax of each row of a row-major [rows, columns] matrix, in place.
func softmaxRows(_ m: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    let shared = SharedPointer(m)
    Parallel.forEach(rows, work: rows * columns * 8) { r in
        let row = shared.base + r * columns
        var maximum = -Float.infinity
        for j in 0..<columns { maximum = max(maximum, row[j]) }
        var sum: Float = 0
        for j in 0..<columns {
            let e = exp(row[j] - maximum)
            row[j] = e
            sum += e
        }
        let inverse = 1 / sum
        for j in 0..<columns { row[j] *= inverse }
    }
}
