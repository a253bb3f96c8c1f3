/// What one pruned search (`PrunedSearch.swift`) keeps while it runs: the queries in the order it
/// visits them, and each query's best so far.

/// The running best of each query (sorted position): smallest ‖c‖² − 2z·c, lowest id on ties.
struct Best {
    var distance: [Float]
    var id: [Int32]

    init(count: Int) {
        distance = [Float](repeating: .infinity, count: count)
        id = [Int32](repeating: .max, count: count)
    }

    /// `times` copies of `other`, one after the other.
    init(repeating other: Best, times: Int) {
        distance = Array([[Float]](repeating: other.distance, count: times).joined())
        id = Array([[Int32]](repeating: other.id, count: times).joined())
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
struct BestSink: @unchecked Sendable {
    let distance: UnsafeMutablePointer<Float>
    let id: UnsafeMutablePointer<Int32>
}

/// One search's queries sorted by home leaf; read-only, shared by the workers.
struct QueryPlan: Sendable {
    /// sorted position → query
    let order: [Int32]
    /// sorted position → its home leaf
    let home: [Int]
    /// leaf → its queries' first sorted position ([leaves + 1])
    let firstOfLeaf: [Int]
    /// [blocks, d]: the queries in sorted order, 8 to a vector, dimension-major within a block
    /// of 8 (NaN past the last query), for the candidate masks.
    let lanes: [SIMD8<Float>]
    /// [count, d + 1]: (−2z, 1) in sorted order, the sgemm's A operand.
    let augmented: [Float]
    /// ‖z‖² plus the rounding margin, which added to a query's best gives the bound a box
    /// must not exceed to be searched.
    let offset: [Float]

    init(_ index: CodebookIndex, _ queries: [Float], count: Int) {
        let dim = index.dim
        let homeOfQuery = queries.withUnsafeBufferPointer { index.homeLeaves(of: $0.baseAddress!, count: count) }
        var firstOfLeaf = [Int](repeating: 0, count: index.leafCount + 1)
        for home in homeOfQuery { firstOfLeaf[home + 1] += 1 }
        for leaf in 0..<index.leafCount { firstOfLeaf[leaf + 1] += firstOfLeaf[leaf] }
        var order = [Int32](repeating: 0, count: count)
        var next = firstOfLeaf
        for i in 0..<count {
            order[next[homeOfQuery[i]]] = Int32(i)
            next[homeOfQuery[i]] += 1
        }
        var lanes = [SIMD8<Float>](repeating: SIMD8(repeating: .nan), count: (count + 7) / 8 * dim)
        var offset = [Float](repeating: 0, count: count)
        let codeRadius = index.maximumSquaredNorm.squareRoot()
        for s in 0..<count {
            var squared: Float = 0
            for c in 0..<dim {
                let v = queries[Int(order[s]) * dim + c]
                lanes[(s / 8) * dim + c][s % 8] = v
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
        self.lanes = lanes
        self.order = order
        self.home = order.map { homeOfQuery[Int($0)] }
        self.firstOfLeaf = firstOfLeaf
        self.augmented = index.augmentedQueries(queries, count: count, order: order)
        self.offset = offset
    }

    /// The ids of `best` in the queries' own order; a query that found no code (every distance
    /// NaN) gets 0, as from torch.argmin's scan.
    func ids(_ best: Best) -> [Int32] {
        var ids = [Int32](repeating: 0, count: order.count)
        for s in 0..<order.count { ids[Int(order[s])] = best.id[s] == .max ? 0 : best.id[s] }
        return ids
    }
}
