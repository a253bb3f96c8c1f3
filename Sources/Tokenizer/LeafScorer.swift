import SearchKernels
import Tensor

/// One worker's scratch for scoring leaves.
struct LeafScorer {
    let index: CodebookIndex
    let path: SearchPath
    var gathered: [Float] = []
    var scores: [Float] = []

    init(_ index: CodebookIndex, _ path: SearchPath) { (self.index, self.path) = (index, path) }

    /// Scores the queries at sorted positions `rows` against every code of `node` and folds
    /// the scores into `sink[rowOffset + row]`; one sgemm per block of rows, codes down and
    /// queries across, so that the argmin runs down columns 8 queries at a time:
    ///
    ///     scores [n, block] = columns(node)ᵀ [n, d + 1] · Aᵀ [d + 1, block]
    ///
    /// (block a multiple of 8; the padding rows of A are 0 and their columns are ignored).
    mutating func score(node: Int, rows: ArraySlice<Int32>, _ plan: QueryPlan, into sink: BestSink, rowOffset: Int) {
        if path == .avx2 { return scan(node: node, rows: rows, plan, into: sink, rowOffset: rowOffset) }
        let width = index.dim + 1
        let (from, columns) = (index.start[node], index.end[node] - index.start[node])
        let padded = (rows.count + 7) / 8 * 8
        let block = min(padded, max(8, CodebookIndex.singleThreadedProduct / (columns * width) / 8 * 8))
        if gathered.count < padded * width { gathered = [Float](repeating: 0, count: padded * width) }
        if scores.count < block * columns { scores = [Float](repeating: 0, count: block * columns) }
        rows.withUnsafeBufferPointer { rows in
        plan.augmented.withUnsafeBufferPointer { augmented in
        gathered.withUnsafeMutableBufferPointer { a in
        index.columns.withUnsafeBufferPointer { codes in
        index.original.withUnsafeBufferPointer { original in
        scores.withUnsafeMutableBufferPointer { scores in
            for k in 0..<rows.count {
                (a.baseAddress! + k * width).update(from: augmented.baseAddress! + Int(rows[k]) * width, count: width)
            }
            (a.baseAddress! + rows.count * width).update(repeating: 0, count: (padded - rows.count) * width)
            for first in stride(from: 0, to: padded, by: block) {
                let m = min(block, padded - first)
                BLAS.sgemm(transA: true, transB: true, m: columns, n: m, k: width, a: codes.baseAddress! + from,
                           lda: index.size, b: a.baseAddress! + first * width, ldb: width, c: scores.baseAddress!, ldc: m)
                foldColumnArgmin(scores.baseAddress!, codes: columns, queries: min(m, rows.count - first), ldc: m,
                                 ids: original.baseAddress! + from, rows: rows.baseAddress! + first,
                                 into: sink, rowOffset: rowOffset)
            }
        }
        }
        }
        }
        }
        }
    }
}

extension LeafScorer {
    /// `score` through `LeafScan`, leaf by leaf (its ties need ids that ascend, which they do
    /// within a leaf only).
    func scan(node: Int, rows: ArraySlice<Int32>, _ plan: QueryPlan, into sink: BestSink, rowOffset: Int) {
        precondition(!index.blocks.isEmpty, "LeafScan runs only on a CPU with AVX2 and FMA")
        var (first, last) = (node, node)
        while first < index.firstLeaf { (first, last) = (2 * first + 1, 2 * last + 2) }
        rows.withUnsafeBufferPointer { rows in
        plan.augmented.withUnsafeBufferPointer { augmented in
        index.blocks.withUnsafeBufferPointer { blocks in
        index.original.withUnsafeBufferPointer { original in
            for node in first...last {
                let leaf = node - index.firstLeaf
                LeafScan.foldNearest(blocks: blocks.baseAddress! + index.firstBlock[leaf] * (index.dim + 1),
                                     blockCount: index.firstBlock[leaf + 1] - index.firstBlock[leaf], dim: index.dim,
                                     ids: original.baseAddress! + index.start[node],
                                     queries: augmented.baseAddress!, width: index.dim + 1, rows: rows, rowOffset: rowOffset,
                                     bestDistance: sink.distance, bestID: sink.id)
            }
        }
        }
        }
        }
    }
}

/// For each column k < queries of scores [codes, ldc] (ldc a multiple of 8): the smallest of
/// its values and the lowest id (`ids`, one per score row) among the rows holding it, folded
/// into the best of row rowOffset + rows[k] (a smaller distance, or an equal one with a lower
/// id). NaN never wins; a column of +inf competes with its +inf of lowest id. Most columns
/// hold nothing better than their best so far: only the others are read a second time, alone
/// or, when more than two of 8 are, all 8 in one pass down the rows.
@inline(__always)
private func foldColumnArgmin(_ scores: UnsafePointer<Float>, codes: Int, queries: Int, ldc: Int,
                              ids: UnsafePointer<Int32>, rows: UnsafePointer<Int32>, into sink: BestSink, rowOffset: Int) {
    typealias Lanes = SIMD8<Float>
    for lane in stride(from: 0, to: queries, by: 8) {
        // Two running minima (even and odd rows) for two chains of compares.
        var (even, odd) = (Lanes(repeating: .infinity), Lanes(repeating: .infinity))
        var row = UnsafeRawPointer(scores + lane)
        let step = 4 * ldc
        for _ in 0..<(codes / 2) {
            let d0 = row.loadUnaligned(as: Lanes.self)
            let d1 = row.loadUnaligned(fromByteOffset: step, as: Lanes.self)
            even.replace(with: d0, where: d0 .< even)
            odd.replace(with: d1, where: d1 .< odd)
            row += 2 * step
        }
        if codes % 2 == 1 {
            let d0 = row.loadUnaligned(as: Lanes.self)
            even.replace(with: d0, where: d0 .< even)
        }
        let minimum = even.replacing(with: odd, where: odd .< even)
        // The columns that may beat their best need the lowest id among their minimum's rows.
        var needed: UInt8 = 0
        for j in 0..<min(8, queries - lane) where minimum[j] <= sink.distance[rowOffset + Int(rows[lane + j])] {
            needed |= 1 << j
        }
        guard needed != 0 else { continue }
        // Usually few do (a column alone reads its rows at a stride); when most do, as against
        // a query's first leaf, one pass down the rows serves all 8 lanes.
        var lowest = SIMD8<Int32>(repeating: .max)
        if needed.nonzeroBitCount > 2 {
            row = UnsafeRawPointer(scores + lane)
            for t in 0..<codes {
                let id = SIMD8<Int32>(repeating: ids[t])
                lowest.replace(with: id, where: (row.loadUnaligned(as: Lanes.self) .== minimum) .& (id .< lowest))
                row += step
            }
        } else {
            for j in 0..<8 where needed & (1 << j) != 0 {
                let column = scores + lane + j
                for t in 0..<codes where column[t * ldc] == minimum[j] && ids[t] < lowest[j] { lowest[j] = ids[t] }
            }
        }
        for j in 0..<8 where needed & (1 << j) != 0 {
            let target = rowOffset + Int(rows[lane + j])
            let id = lowest[j]
            if id != .max && (minimum[j] < sink.distance[target] || id < sink.id[target]) {
                (sink.distance[target], sink.id[target]) = (minimum[j], id)
            }
        }
    }
}
