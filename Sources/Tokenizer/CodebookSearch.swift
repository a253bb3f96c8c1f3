import Tensor

extension Codebook {
    /// For each query row z_i of `queries` ([count, dim]):
    ///     ids[i] = argmin_j ‖c_j‖² − 2 z_i·c_j      (= argmin ‖z_i − c_j‖²; ties → lowest j, as torch.argmin)
    ///
    /// Every distance comes from a sgemm of augmented rows, (−2z, 1)·(c, ‖c‖²), so the search
    /// is batched on BLAS. Small dimensions (`CodebookIndex`) take the pruned search: the
    /// queries grouped by the tree node they fall in, each group multiplied only against the
    /// nodes whose box could hold a nearer code; the ids are those of the full scan.
    /// Larger dimensions take the blocked full scan.
    func nearestCodes(_ queries: [Float], count: Int, path: SearchPath = .fastest) -> [Int32] {
        precondition(queries.count == count * dim, "nearestCodes: \(queries.count) values are not [\(count), \(dim)]")
        guard count > 0 else { return [] }
        return index.depth == 0 ? index.nearestByScan(queries, count: count)
                                : index.nearestPruned(queries, count: count, path: path)
    }

    /// Plain scan with the same contract as `nearestCodes`, accumulating in Double; the
    /// reference the search is tested against.
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

extension CodebookIndex {
    /// Queries per block and codebook rows per tile of the full scan: a block's scores
    /// (128 × 2048 floats) stay in cache while they are reduced.
    static let scanQueryBlock = 128
    static let scanTileRows = 2048

    /// The full scan: query blocks one after the other, each sgemm free to use OpenBLAS's
    /// threads (the only pool that runs), the argmin in the calling thread.
    func nearestByScan(_ queries: [Float], count: Int) -> [Int32] {
        let augmented = augmentedQueries(queries, count: count, order: nil)
        let width = dim + 1
        var ids = [Int32](repeating: 0, count: count)
        var scores = [Float](repeating: 0, count: Self.scanQueryBlock * min(size, Self.scanTileRows))
        var best = [Float](repeating: .infinity, count: Self.scanQueryBlock)
        var bestId = [Int32](repeating: .max, count: Self.scanQueryBlock)
        for first in stride(from: 0, to: count, by: Self.scanQueryBlock) {
            let block = min(Self.scanQueryBlock, count - first)
            for r in 0..<block { (best[r], bestId[r]) = (.infinity, .max) }
            for tile in stride(from: 0, to: size, by: Self.scanTileRows) {
                let tileColumns = min(Self.scanTileRows, size - tile)
                augmented.withUnsafeBufferPointer { a in
                columns.withUnsafeBufferPointer { b in
                original.withUnsafeBufferPointer { o in
                scores.withUnsafeMutableBufferPointer { s in
                    // scores[r, t] = ‖c‖² − 2 z_(first+r)·c_(tile+t)
                    BLAS.sgemm(m: block, n: tileColumns, k: width, a: a.baseAddress! + first * width, lda: width,
                               b: b.baseAddress! + tile, ldb: size, c: s.baseAddress!, ldc: tileColumns)
                    for r in 0..<block {
                        foldArgmin(s.baseAddress! + r * tileColumns, ids: o.baseAddress! + tile, count: tileColumns,
                                   best: &best[r], bestId: &bestId[r])
                    }
                }
                }
                }
                }
            }
            for r in 0..<block { ids[first + r] = bestId[r] == .max ? 0 : bestId[r] }
        }
        return ids
    }

    /// [count, d] queries → [count, d + 1] rows (−2z, 1), in `order` (sorted position → query)
    /// when given: the A operand whose product with `columns` is ‖c‖² − 2 z·c.
    func augmentedQueries(_ queries: [Float], count: Int, order: [Int32]?) -> [Float] {
        var augmented = [Float](repeating: 1, count: count * (dim + 1))
        for s in 0..<count {
            let i = order.map { Int($0[s]) } ?? s
            for c in 0..<dim { augmented[s * (dim + 1) + c] = -2 * queries[i * dim + c] }
        }
        return augmented
    }
}

/// Folds scores[0..<count] (distances, less ‖z‖²) of the codes named `ids` into a query's
/// running best: the smallest distance, and among equal ones the lowest id. NaN never wins.
/// `ids` must ascend (one leaf of `CodebookIndex`, or a tile of the plain scan), so that the
/// first position holding the minimum has the lowest id among equal ones. Most rows hold
/// nothing better than the best so far: their minimum alone is looked at.
@inline(__always)
func foldArgmin(_ scores: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int,
                best: inout Float, bestId: inout Int32) {
    typealias Lanes = SIMD8<Float>
    let rawScores = UnsafeRawPointer(scores)
    var laneMinimum = Lanes(repeating: .infinity)
    var t = 0
    while t + 8 <= count {
        let d = rawScores.loadUnaligned(fromByteOffset: t * 4, as: Lanes.self)
        laneMinimum.replace(with: d, where: d .< laneMinimum)
        t += 8
    }
    var minimum = laneMinimum.min()
    while t < count {
        if scores[t] < minimum { minimum = scores[t] }
        t += 1
    }
    // Only a row whose minimum reaches the best can change it (with the best at +inf, a row
    // of +inf competes on its id; NaN equals nothing, so a row of NaN finds no position).
    if minimum > best { return }
    let target = Lanes(repeating: minimum)
    t = 0
    while t + 8 <= count {
        let equal = rawScores.loadUnaligned(fromByteOffset: t * 4, as: Lanes.self) .== target
        if any(equal) { break }
        t += 8
    }
    while t < count && scores[t] != minimum { t += 1 }
    guard t < count else { return }
    if minimum < best || ids[t] < bestId { (best, bestId) = (minimum, ids[t]) }
}
