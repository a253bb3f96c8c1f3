import Foundation

/// Single-head self-attention over spatial positions (taming's AttnBlock core, SDPA with one
/// head of dimension C and scale 1/√C).
///
///     q, k, v [B, C, N]       (N = H·W positions; NCHW activations read as [B, C, H·W])
///     scores  scratch, grown to min(N, 4Mi/N)·N floats and reused (queries go in blocks)
///     out     [B, C, N]       out[b, :, i] = Σ_j softmax_j(q[b,:,i]·k[b,:,j] / √C) · v[b, :, j]
///
/// The query blocks of every image are the tasks, spread over the workers; each worker scores,
/// normalizes and applies its own block in its own part of `scores` with single-threaded
/// sgemms, so a block's result does not depend on the number of workers.
public func spatialAttention(_ out: inout Tensor, q: Tensor, k: Tensor, v: Tensor, scores: inout [Float]) {
    spatialAttention(&out, q: q, k: k, v: v, scores: &scores, workers: Parallel.workers)
}

func spatialAttention(_ out: inout Tensor, q: Tensor, k: Tensor, v: Tensor, scores: inout [Float], workers: Int) {
    precondition(q.shape.count >= 3 && q.shape == k.shape && q.shape == v.shape,
                 "spatialAttention: q \(q.shape), k \(k.shape), v \(v.shape) must match")
    let (batch, channels) = (q.shape[0], q.shape[1])
    let n = q.count / max(1, batch * channels)
    out.resize(to: q.shape)
    guard batch > 0 && channels > 0 && n > 0 else { return }
    // Queries are taken in blocks so the score matrices stay ≤ 4 Mi floats (16 MiB) in all however
    // many positions there are (a 1024×1024 image at f8 has 16384: 1 GiB of scores at once).
    let blockRows = max(1, min(n, (1 << 22) / n))
    // At least one block per worker when the image alone would make fewer.
    let taskRows = max(1, min(blockRows, (n + workers - 1) / workers, (1 << 22) / max(1, workers * n)))
    let blocksPerImage = (n + taskRows - 1) / taskRows
    let slots = max(1, min(workers, batch * blocksPerImage))
    if scores.count < slots * taskRows * n {
        scores.append(contentsOf: repeatElement(0, count: slots * taskRows * n - scores.count))
    }
    let scale = 1 / Float(channels).squareRoot()

    q.storage.withUnsafeBufferPointer { qBuf in
    k.storage.withUnsafeBufferPointer { kBuf in
    v.storage.withUnsafeBufferPointer { vBuf in
    out.storage.withUnsafeMutableBufferPointer { outBuf in
    scores.withUnsafeMutableBufferPointer { sBuf in
        let (qs, ks, vs) = (SharedConstPointer(qBuf.baseAddress!), SharedConstPointer(kBuf.baseAddress!),
                            SharedConstPointer(vBuf.baseAddress!))
        let (os, ss) = (SharedPointer(outBuf.baseAddress!), SharedPointer(sBuf.baseAddress!))
        Parallel.forTasks(batch * blocksPerImage, workers: workers) { task, worker in
            let offset = (task / blocksPerImage) * channels * n
            let first = (task % blocksPerImage) * taskRows
            let rows = min(taskRows, n - first)
            let s = ss.base + worker * taskRows * n
            // s[i, j] = q[:, first + i] · k[:, j] / √C        ([rows, C] × [C, N])
            BLAS.sgemm(transA: true, m: rows, n: n, k: channels, alpha: scale,
                       a: qs.base + offset + first, lda: n, b: ks.base + offset, ldb: n, c: s, ldc: n)
            softmaxRows(s, rows: rows, columns: n)
            // out[:, first + i] = Σ_j v[:, j] · s[i, j]        ([C, N] × [rows, N]ᵀ)
            BLAS.sgemm(transB: true, m: channels, n: rows, k: n,
                       a: vs.base + offset, lda: n, b: s, ldb: n, c: os.base + offset + first, ldc: n)
        }
    }
    }
    }
    }
    }
}

/// Numerically stable softmax of each row of a row-major [rows, columns] matrix, in place
/// (on the calling thread: attention runs it inside its workers).
///
///     m[r, j] = e^(m[r, j] − max_j m[r, :]) / Σ_j e^(m[r, j] − max_j m[r, :])
///
/// 16 columns at a time through the polynomial `expClamped`: the exponents are ≤ 0, and the
/// clamp at −87 turns what would underflow into e^−87 ≈ 1.6e-38, nothing beside the row's 1.
func softmaxRows(_ m: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    typealias V = SIMD16<Float>
    for r in 0..<rows {
        let row = m + r * columns
        var maximum = -Float.infinity
        for j in 0..<columns { maximum = max(maximum, row[j]) }
        var sums = V(repeating: 0)
        var j = 0
        while j + 16 <= columns {
            let e = expClamped(UnsafeRawPointer(row + j).loadUnaligned(as: V.self) - maximum)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: V.self)
            sums += e
            j += 16
        }
        var sum = sums.sum()
        while j < columns {
            let e = exp(row[j] - maximum)
            row[j] = e
            sum += e
            j += 1
        }
        let inverse = 1 / sum
        j = 0
        while j + 16 <= columns {
            let e = UnsafeRawPointer(row + j).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(row + j).storeBytes(of: e * inverse, as: V.self)
            j += 16
        }
        while j < columns { row[j] *= inverse; j += 1 }
    }
}
