import Foundation

/// Single-head self-attention over spatial positions (taming's AttnBlock core, SDPA with one
/// head of dimension C and scale 1/√C).
///
///     q, k, v [B, C, N]       (N = H·W positions; NCHW activations read as [B, C, H·W])
///     scores  scratch, grown to min(N, 4Mi/N)·N and reused (queries go in blocks)
///     out     [B, C, N]       out[b, :, i] = Σ_j softmax_j(q[b,:,i]·k[b,:,j] / √C) · v[b, :, j]
public func spatialAttention(_ out: inout Tensor, q: Tensor, k: Tensor, v: Tensor, scores: inout [Float]) {
    precondition(q.shape.count >= 3 && q.shape == k.shape && q.shape == v.shape,
                 "spatialAttention: q \(q.shape), k \(k.shape), v \(v.shape) must match")
    let (batch, channels) = (q.shape[0], q.shape[1])
    let n = q.count / max(1, batch * channels)
    out.resize(to: q.shape)
    // Queries are taken in blocks so the score matrix stays ≤ 4 Mi floats (16 MiB) however
    // many positions there are (a 1024×1024 image at f8 has 16384: 1 GiB of scores at once).
    let blockRows = max(1, min(n, (1 << 22) / max(1, n)))
    if scores.count < blockRows * n { scores.append(contentsOf: repeatElement(0, count: blockRows * n - scores.count)) }
    let scale = 1 / Float(channels).squareRoot()

    q.storage.withUnsafeBufferPointer { qBuf in
    k.storage.withUnsafeBufferPointer { kBuf in
    v.storage.withUnsafeBufferPointer { vBuf in
    out.storage.withUnsafeMutableBufferPointer { outBuf in
    scores.withUnsafeMutableBufferPointer { sBuf in
        let s = sBuf.baseAddress!
        for b in 0..<batch {
            let offset = b * channels * n
            var first = 0
            while first < n {
                let rows = min(blockRows, n - first)
                // s[i, j] = q[:, first + i] · k[:, j] / √C        ([rows, C] × [C, N])
                BLAS.sgemm(transA: true, m: rows, n: n, k: channels, alpha: scale,
                           a: qBuf.baseAddress! + offset + first, lda: n, b: kBuf.baseAddress! + offset, ldb: n,
                           c: s, ldc: n)
                softmaxRows(s, rows: rows, columns: n)
                // out[:, first + i] = Σ_j v[:, j] · s[i, j]        ([C, N] × [rows, N]ᵀ)
                BLAS.sgemm(transB: true, m: channels, n: rows, k: n,
                           a: vBuf.baseAddress! + offset, lda: n, b: s, ldb: n,
                           c: outBuf.baseAddress! + offset + first, ldc: n)
                first += rows
            }
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
