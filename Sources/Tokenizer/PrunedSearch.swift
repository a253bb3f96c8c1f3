import Dispatch
import Foundation
import Tensor

extension CodebookIndex {
    /// m·n·k of every sgemm the pruned search issues stays at or below OpenBLAS's threshold
    /// for threading a GEMM (interface/gemm.c: SMP_THRESHOLD_MIN 65536 × GEMM_MULTITHREAD_THRESHOLD 4),
    /// so OpenBLAS runs each on the calling worker: Dispatch's workers are the only pool.
    static let singleThreadedProduct = 65536 * 4

    /// Exact nearest codes through the tree (`CodebookIndex`), for `nearestCodes`. Leaf-major,
    /// so that each sgemm multiplies one leaf by every query that needs it:
    ///
    /// 1. the queries sorted by the leaf they fall in (their home), each home leaf scored
    ///    against its queries: a first best per query;
    /// 2. per query, a walk down the tree to every other leaf whose box could hold a code as
    ///    near as that best (pruning whole subtrees);
    /// 3. per leaf, one sgemm [queries that need it × (d+1)]·[(d+1) × leaf], folded into their best.
    ///
    /// Steps 1 to 3 each spread over the Dispatch workers, every sgemm single-threaded.
    func nearestPruned(_ queries: [Float], count: Int) -> [Int32] {
        let plan = QueryPlan(self, queries, count: count)
        let workers = count >= 64 ? KernelThreads.count : 1
        var best = Best(count: count)
        // 1. Home leaves: each query is in one, so the workers write disjoint rows.
        let homes = leafRanges(workers, weight: { plan.firstOfLeaf[$0 + 1] - plan.firstOfLeaf[$0] })
        let sortedRows = (0..<count).map { Int32($0) }
        best.withSinks { sink in
            forEach(homes.count, workers) { chunk in
                var scorer = LeafScorer(self)
                for leaf in homes[chunk] {
                    let rows = sortedRows[plan.firstOfLeaf[leaf]..<plan.firstOfLeaf[leaf + 1]]
                    if !rows.isEmpty { scorer.score(leaf: leaf, rows: rows, plan, into: sink, rowOffset: 0) }
                }
            }
        }
        // 2. Candidate leaves per query, then the queries of each leaf (a counting sort).
        let threshold = (0..<count).map { best.distance[$0] + plan.offset[$0] }
        var candidates = [[Int32]](repeating: [], count: homes.count)
        candidates.withUnsafeMutableBufferPointer { lists in
            let out = SharedLists(base: lists.baseAddress!)
            forEach(homes.count, workers) { chunk in
                out.base[chunk] = candidateLeaves(plan, homes: homes[chunk], threshold: threshold)
            }
        }
        let (firstOfLeaf, rowsOfLeaf) = rowsByLeaf(candidates)
        // 3. Each chunk of leaves folds into its own copy of the best, merged afterwards.
        let leafChunks = leafRanges(workers, weight: { firstOfLeaf[$0 + 1] - firstOfLeaf[$0] })
        var partial = Best(count: count * leafChunks.count)
        partial.withSinks { sink in
            forEach(leafChunks.count, workers) { chunk in
                var scorer = LeafScorer(self)
                for leaf in leafChunks[chunk] where firstOfLeaf[leaf] < firstOfLeaf[leaf + 1] {
                    scorer.score(leaf: leaf, rows: rowsOfLeaf[firstOfLeaf[leaf]..<firstOfLeaf[leaf + 1]], plan,
                                 into: sink, rowOffset: chunk * count)
                }
            }
        }
        for chunk in 0..<leafChunks.count { best.merge(partial, from: chunk * count) }
        var ids = [Int32](repeating: 0, count: count)
        for s in 0..<count { ids[Int(plan.order[s])] = best.id[s] == .max ? 0 : best.id[s] }
        return ids
    }

    /// (leaf, row) pairs, flattened: for the queries whose home is one of `homes`, every other
    /// leaf whose box lies within their threshold (`boxBound`). The queries of one home walk
    /// the tree together: a subtree is left as soon as its box is beyond the largest threshold
    /// from the box of their points, and only the leaves reached are tested query by query.
    private func candidateLeaves(_ plan: QueryPlan, homes: Range<Int>, threshold: [Float]) -> [Int32] {
        typealias Lanes = SIMD8<Float>
        var pairs: [Int32] = []
        pairs.reserveCapacity(64 * (plan.firstOfLeaf[homes.upperBound] - plan.firstOfLeaf[homes.lowerBound]))
        var groupLow = [Float](repeating: 0, count: boxStride)
        var groupHigh = [Float](repeating: 0, count: boxStride)
        var stack = [Int](repeating: 0, count: depth + 2)  // a depth-first walk holds one sibling per level
        // The group's points dimension-major, 8 queries to a vector: [block, d] (NaN past the
        // last query, whose bound is then NaN and never passes), and their thresholds [block].
        var lanes: [Lanes] = []
        var laneThreshold: [Lanes] = []
        plan.points.withUnsafeBufferPointer { points in
        lower.withUnsafeBufferPointer { lower in
        upper.withUnsafeBufferPointer { upper in
        threshold.withUnsafeBufferPointer { threshold in
        stack.withUnsafeMutableBufferPointer { stack in
            for home in homes {
                let rows = plan.firstOfLeaf[home]..<plan.firstOfLeaf[home + 1]
                guard !rows.isEmpty else { continue }
                var largest = -Float.infinity
                for c in 0..<boxStride { (groupLow[c], groupHigh[c]) = (Float.infinity, -Float.infinity) }
                lanes.removeAll(keepingCapacity: true)
                laneThreshold.removeAll(keepingCapacity: true)
                for first in stride(from: rows.lowerBound, to: rows.upperBound, by: 8) {
                    var limit = Lanes(repeating: -.infinity)
                    for c in 0..<dim {
                        var z = Lanes(repeating: .nan)
                        for lane in 0..<min(8, rows.upperBound - first) { z[lane] = points[(first + lane) * boxStride + c] }
                        lanes.append(z)
                    }
                    for lane in 0..<min(8, rows.upperBound - first) { limit[lane] = threshold[first + lane] }
                    laneThreshold.append(limit)
                }
                for s in rows {
                    for c in 0..<boxStride {
                        groupLow[c] = min(groupLow[c], points[s * boxStride + c])
                        groupHigh[c] = max(groupHigh[c], points[s * boxStride + c])
                    }
                    if threshold[s] > largest { largest = threshold[s] }
                }
                var top = 1
                stack[0] = 0
                while top > 0 {
                    top -= 1
                    let node = stack[top]
                    let (nodeLower, nodeUpper) = (lower.baseAddress! + node * boxStride, upper.baseAddress! + node * boxStride)
                    if node == firstLeaf + home
                        || !(boxBound(low: groupLow, high: groupHigh, lower: nodeLower, upper: nodeUpper,
                                      stride: boxStride) <= largest) { continue }
                    if node < firstLeaf {
                        stack[top] = 2 * node + 2
                        stack[top + 1] = 2 * node + 1
                        top += 2
                        continue
                    }
                    // The leaf, 8 queries at a time: Σ_c max(lower_c − z_c, z_c − upper_c, 0)² ≤ threshold.
                    for block in 0..<laneThreshold.count {
                        var bound = Lanes()
                        for c in 0..<dim {
                            let z = lanes[block * dim + c]
                            let below = Lanes(repeating: nodeLower[c]) - z
                            let above = z - Lanes(repeating: nodeUpper[c])
                            var gap = below.replacing(with: above, where: above .> below)
                            gap.replace(with: 0, where: gap .< 0)
                            bound += gap * gap
                        }
                        let pass = bound .<= laneThreshold[block]
                        guard any(pass) else { continue }
                        for lane in 0..<8 where pass[lane] {
                            pairs.append(Int32(node - firstLeaf))
                            pairs.append(Int32(rows.lowerBound + block * 8 + lane))
                        }
                    }
                }
            }
        }
        }
        }
        }
        }
        return pairs
    }

    /// The flattened (leaf, row) lists sorted by leaf (a counting sort): leaf → first position
    /// ([leaves + 1]) and the rows.
    private func rowsByLeaf(_ lists: [[Int32]]) -> ([Int], [Int32]) {
        var firstOfLeaf = [Int](repeating: 0, count: leafCount + 1)
        for list in lists { for k in stride(from: 0, to: list.count, by: 2) { firstOfLeaf[Int(list[k]) + 1] += 1 } }
        for leaf in 0..<leafCount { firstOfLeaf[leaf + 1] += firstOfLeaf[leaf] }
        var rows = [Int32](repeating: 0, count: firstOfLeaf[leafCount])
        var next = firstOfLeaf
        for list in lists {
            for k in stride(from: 0, to: list.count, by: 2) {
                rows[next[Int(list[k])]] = list[k + 1]
                next[Int(list[k])] += 1
            }
        }
        return (firstOfLeaf, rows)
    }

    /// Leaves cut into contiguous chunks of about equal `weight`, about four per worker.
    private func leafRanges(_ workers: Int, weight: (Int) -> Int) -> [Range<Int>] {
        guard workers > 1 else { return [0..<leafCount] }
        let total = (0..<leafCount).reduce(0) { $0 + weight($1) + 1 }
        let parts = workers * 4
        var ranges: [Range<Int>] = []
        var (from, sum) = (0, 0)
        for leaf in 0..<leafCount {
            sum += weight(leaf) + 1
            if sum * parts >= total * (ranges.count + 1) || leaf == leafCount - 1 {
                ranges.append(from..<(leaf + 1))
                from = leaf + 1
            }
        }
        return ranges
    }
}

/// body(i) for i in 0..<count, on at most `workers` of the kernels' Dispatch workers.
private func forEach(_ count: Int, _ workers: Int, _ body: @Sendable (Int) -> Void) {
    Parallel.forTasks(count, workers: workers) { task, _ in body(task) }
}

/// Where the workers write their candidate lists, one slot each.
///
/// @unchecked Sendable: each worker writes only its own slot, and the array outlives
/// `concurrentPerform`.
private struct SharedLists: @unchecked Sendable {
    let base: UnsafeMutablePointer<[Int32]>
}

/// The running best of each query (sorted position): smallest ‖c‖² − 2z·c, lowest id on ties.
private struct Best {
    var distance: [Float]
    var id: [Int32]

    init(count: Int) {
        distance = [Float](repeating: .infinity, count: count)
        id = [Int32](repeating: .max, count: count)
    }

    /// Runs `body` with pointers the workers fold into (each into rows no other one touches).
    mutating func withSinks(_ body: (BestSink) -> Void) {
        distance.withUnsafeMutableBufferPointer { d in
            id.withUnsafeMutableBufferPointer { i in body(BestSink(distance: d.baseAddress!, id: i.baseAddress!)) }
        }
    }

    /// self[s] ← the better of self[s] and other[offset + s].
    mutating func merge(_ other: Best, from offset: Int) {
        for s in 0..<distance.count {
            let (d, i) = (other.distance[offset + s], other.id[offset + s])
            if d < distance[s] || (d == distance[s] && i < id[s]) { (distance[s], id[s]) = (d, i) }
        }
    }
}

/// @unchecked Sendable: during one `forEach` each row is folded into by one worker only, and
/// the arrays outlive it.
private struct BestSink: @unchecked Sendable {
    let distance: UnsafeMutablePointer<Float>
    let id: UnsafeMutablePointer<Int32>
}

/// One search's queries sorted by home leaf; read-only, shared by the workers.
private struct QueryPlan: Sendable {
    /// sorted position → query
    let order: [Int32]
    /// sorted position → its home leaf
    let home: [Int]
    /// leaf → its queries' first sorted position ([leaves + 1])
    let firstOfLeaf: [Int]
    /// [count, boxStride]: the queries in sorted order, padded with 0, for the box bounds.
    let points: [Float]
    /// [count, d + 1]: (−2z, 1) in sorted order, the sgemm's A operand.
    let augmented: [Float]
    /// ‖z‖² plus the rounding margin, which added to a query's best gives the bound a box
    /// must not exceed to be searched.
    let offset: [Float]

    init(_ index: CodebookIndex, _ queries: [Float], count: Int) {
        let dim = index.dim
        var homeOfQuery = [Int](repeating: 0, count: count)
        var firstOfLeaf = [Int](repeating: 0, count: index.leafCount + 1)
        queries.withUnsafeBufferPointer { q in
            for i in 0..<count {
                homeOfQuery[i] = index.homeLeaf(of: q.baseAddress! + i * dim)
                firstOfLeaf[homeOfQuery[i] + 1] += 1
            }
        }
        for leaf in 0..<index.leafCount { firstOfLeaf[leaf + 1] += firstOfLeaf[leaf] }
        var order = [Int32](repeating: 0, count: count)
        var next = firstOfLeaf
        for i in 0..<count {
            order[next[homeOfQuery[i]]] = Int32(i)
            next[homeOfQuery[i]] += 1
        }
        var points = [Float](repeating: 0, count: count * index.boxStride)
        var offset = [Float](repeating: 0, count: count)
        let codeRadius = index.maximumSquaredNorm.squareRoot()
        for s in 0..<count {
            var squared: Float = 0
            for c in 0..<dim {
                let v = queries[Int(order[s]) * dim + c]
                points[s * index.boxStride + c] = v
                squared += v * v
            }
            // Rounding margin, in units of R² = (‖z‖ + max ‖c‖)², which bounds every term: the
            // computed ‖c‖² − 2z·c errs by at most (2d + 1)·2⁻²⁴·R² (‖c‖² summed in Float, then
            // d + 1 products accumulated), the box bound by (d + 2)·2⁻²⁴·R², ‖z‖² by d·2⁻²⁴·R².
            // Twice their sum: a box is pruned only when no code in it can come out nearer, or
            // as near, in Float.
            let radius = squared.squareRoot() + codeRadius
            offset[s] = squared + Float(8 * dim + 16) * 0x1p-24 * radius * radius
        }
        self.order = order
        self.home = order.map { homeOfQuery[Int($0)] }
        self.firstOfLeaf = firstOfLeaf
        self.points = points
        self.augmented = index.augmentedQueries(queries, count: count, order: order)
        self.offset = offset
    }
}

/// One worker's scratch for scoring leaves.
private struct LeafScorer {
    let index: CodebookIndex
    var gathered: [Float]
    var scores: [Float]

    init(_ index: CodebookIndex) {
        self.index = index
        gathered = []
        scores = [Float](repeating: 0, count: CodebookIndex.singleThreadedProduct / (index.dim + 1) + 8)
    }

    /// Scores the queries at sorted positions `rows` against every code of `leaf` and folds
    /// the scores into `sink[rowOffset + row]`; one sgemm per block of rows:
    ///
    ///     scores [rows, n] = A [rows, d + 1] · columns(leaf) [d + 1, n]
    mutating func score(leaf: Int, rows: ArraySlice<Int32>, _ plan: QueryPlan, into sink: BestSink, rowOffset: Int) {
        let width = index.dim + 1
        let node = index.firstLeaf + leaf
        let (from, columns) = (index.start[node], index.end[node] - index.start[node])
        let block = max(1, CodebookIndex.singleThreadedProduct / (columns * width))
        if gathered.count < rows.count * width { gathered = [Float](repeating: 0, count: rows.count * width) }
        rows.withUnsafeBufferPointer { rows in
        plan.augmented.withUnsafeBufferPointer { augmented in
        gathered.withUnsafeMutableBufferPointer { a in
        index.columns.withUnsafeBufferPointer { codes in
        index.original.withUnsafeBufferPointer { original in
        scores.withUnsafeMutableBufferPointer { scores in
            for k in 0..<rows.count {
                (a.baseAddress! + k * width).update(from: augmented.baseAddress! + Int(rows[k]) * width, count: width)
            }
            for first in stride(from: 0, to: rows.count, by: block) {
                let m = min(block, rows.count - first)
                BLAS.sgemm(m: m, n: columns, k: width, a: a.baseAddress! + first * width, lda: width,
                           b: codes.baseAddress! + from, ldb: index.size, c: scores.baseAddress!, ldc: columns)
                for k in 0..<m {
                    let row = rowOffset + Int(rows[first + k])
                    foldArgmin(scores.baseAddress! + k * columns, ids: original.baseAddress! + from, count: columns,
                               best: &sink.distance[row], bestId: &sink.id[row])
                }
            }
        }
        }
        }
        }
        }
        }
    }
}
