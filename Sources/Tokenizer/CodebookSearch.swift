import Dispatch
import Foundation
import Tensor

extension Codebook {
    /// Codebook rows per tile: 2048 × e floats stay in cache while a query block's scores
    /// (queryBlock × 2048) are reduced.
    static let tileRows = 2048
    static let queryBlock = 128

    /// For each query row z_i of `queries` ([count, dim]):
    ///     ids[i] = argmin_j ‖c_j‖² − 2 z_i·c_j      (= argmin ‖z_i − c_j‖²; ties → lowest j, as torch.argmin)
    ///
    /// Blocked: a sgemm scores a block of queries against one codebook tile, and a SIMD16 argmin
    /// folds the tile into each query's running best. Query blocks run in parallel.
    func nearestCodes(_ queries: [Float], count: Int) -> [Int32] {
        precondition(queries.count == count * dim, "nearestCodes: \(queries.count) values are not [\(count), \(dim)]")
        var ids = [Int32](repeating: 0, count: count)
        let blocks = (count + Self.queryBlock - 1) / Self.queryBlock
        queries.withUnsafeBufferPointer { qBuf in
        vectors.withUnsafeBufferPointer { cBuf in
        squaredNorms.withUnsafeBufferPointer { nBuf in
        ids.withUnsafeMutableBufferPointer { idBuf in
            let job = SearchJob(queries: qBuf.baseAddress!, codes: cBuf.baseAddress!, norms: nBuf.baseAddress!,
                                ids: idBuf.baseAddress!, count: count, size: size, dim: dim)
            if blocks == 1 {
                job.run(block: 0)
            } else {
                DispatchQueue.concurrentPerform(iterations: blocks) { job.run(block: $0) }
            }
        }
        }
        }
        }
        return ids
    }

    /// Plain scan with the same contract as `nearestCodes`, accumulating in Double; the
    /// reference the blocked search is tested against.
    func nearestCodesReference(_ queries: [Float], count: Int) -> [Int32] {
        (0..<count).map { i in
            var best = Double.infinity
            var bestIndex = 0
            for j in 0..<size {
                var dot = 0.0
                for c in 0..<dim { dot += Double(queries[i * dim + c]) * Double(vectors[j * dim + c]) }
                let distance = Double(squaredNorms[j]) - 2 * dot
                if distance < best { best = distance; bestIndex = j }
            }
            return Int32(bestIndex)
        }
    }
}

/// One search's pointers, shared by the query-block workers.
///
/// @unchecked Sendable: the inputs are only read, and each worker writes only the ids of
/// its own query block; the buffers outlive `concurrentPerform`.
private struct SearchJob: @unchecked Sendable {
    let queries: UnsafePointer<Float>
    let codes: UnsafePointer<Float>
    let norms: UnsafePointer<Float>
    let ids: UnsafeMutablePointer<Int32>
    let count, size, dim: Int

    func run(block: Int) {
        let first = block * Codebook.queryBlock
        let rows = min(Codebook.queryBlock, count - first)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * Codebook.tileRows)
        defer { scores.deallocate() }
        var bestDistance = [Float](repeating: .infinity, count: rows)
        var bestIndex = [Int32](repeating: 0, count: rows)
        var tileStart = 0
        while tileStart < size {
            let tile = min(Codebook.tileRows, size - tileStart)
            // scores[r, t] = z_(first+r) · c_(tileStart+t)
            BLAS.sgemm(transB: true, m: rows, n: tile, k: dim,
                       a: queries + first * dim, lda: dim, b: codes + tileStart * dim, ldb: dim,
                       c: scores, ldc: tile)
            for r in 0..<rows {
                let (distance, index) = argminOfDistances(scores + r * tile, norms: norms + tileStart,
                                                          count: tile, firstIndex: tileStart)
                // Strictly smaller: on a tie the earlier tile (lower index) keeps it.
                if distance < bestDistance[r] {
                    bestDistance[r] = distance
                    bestIndex[r] = index
                }
            }
            tileStart += tile
        }
        for r in 0..<rows { ids[first + r] = bestIndex[r] }
    }
}

/// min over t of norms[t] − 2·scores[t], with the lowest t among equal minima.
/// Returns the distance and `firstIndex + t`.
@inline(__always)
private func argminOfDistances(_ scores: UnsafePointer<Float>, norms: UnsafePointer<Float>,
                               count: Int, firstIndex: Int) -> (Float, Int32) {
    typealias Lanes = SIMD16<Float>
    let width = Lanes.scalarCount
    var best = Lanes(repeating: .infinity)
    var bestIndex = SIMD16<Int32>(repeating: Int32.max)
    var index = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) &+ Int32(firstIndex)
    let step = SIMD16<Int32>(repeating: Int32(width))
    let rawScores = UnsafeRawPointer(scores)
    let rawNorms = UnsafeRawPointer(norms)
    var t = 0
    while t + width <= count {
        let s = rawScores.loadUnaligned(fromByteOffset: t * 4, as: Lanes.self)
        let n = rawNorms.loadUnaligned(fromByteOffset: t * 4, as: Lanes.self)
        let d = n - 2 * s
        // Each lane sees increasing indices, so strict < keeps its lowest index among ties.
        let better = d .< best
        best.replace(with: d, where: better)
        bestIndex.replace(with: index, where: better)
        index &+= step
        t += width
    }
    var minimum = best.min()
    var minimumIndex = bestIndex.replacing(with: Int32.max, where: best .!= minimum).min()
    while t < count {
        let d = norms[t] - 2 * scores[t]
        if d < minimum { minimum = d; minimumIndex = Int32(firstIndex + t) }
        t += 1
    }
    if minimumIndex == Int32.max { minimumIndex = Int32(firstIndex) }  // every distance NaN or +inf
    return (minimum, minimumIndex)
}
