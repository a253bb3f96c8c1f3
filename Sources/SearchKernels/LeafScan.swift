/// The pruned codebook search's scoring loop with the distances kept in registers: each query
/// against one leaf, ‖c‖² − 2z·c computed 8 codes at a time by fused multiply-adds and reduced
/// to the leaf's best at once, where the portable path writes every score through a sgemm and
/// reads it back to fold it.
///
/// This module is compiled for AVX2 and FMA on x86-64 (Package.swift), so nothing in it may run
/// on a CPU without them: the caller checks the CPU first, in code built for the baseline.
/// Everything here works on concrete SIMD8<Float> and is inlined into `foldNearest` (but for
/// the rare reduction, `fold`, a private function), so no generic code is left for the linker
/// to share with other modules.
public enum LeafScan {
    /// For each query at `rows` (positions in `queries`): its nearest code of one leaf, folded
    /// into the running best at `rowOffset + row` (a smaller distance, or an equal one with a
    /// lower id). NaN never wins; +inf does, against a best of +inf with a higher id.
    ///
    ///     d[r, j] = Σ_c a[r, c] · code_j[c] + ‖code_j‖²     a[r] = −2z_r, the query row's first dim values
    ///
    /// - blocks: the leaf's codes 8 at a time, [blockCount, dim + 1] vectors (blockCount even):
    ///   vector c of block b holds coordinate c of codes 8b..<8b + 8, vector dim their ‖c‖² (NaN
    ///   in the lanes past the leaf's last code, whose coordinates are 0);
    /// - ids: the leaf's ids in the same order, ascending (the lowest position is the lowest id);
    /// - queries: [·, width] rows, width ≥ dim.
    public static func foldNearest(blocks: UnsafePointer<SIMD8<Float>>, blockCount: Int, dim: Int,
                                   ids: UnsafePointer<Int32>, queries: UnsafePointer<Float>, width: Int,
                                   rows: UnsafeBufferPointer<Int32>, rowOffset: Int,
                                   bestDistance: UnsafeMutablePointer<Float>, bestID: UnsafeMutablePointer<Int32>) {
        precondition(blockCount > 0 && blockCount % 2 == 0 && dim > 0 && width >= dim)
        for row in rows {
            let (query, target) = (queries + Int(row) &* width, rowOffset &+ Int(row))
            let bound = bestDistance[target]
            let lanes = dim == 8 ? scan(blocks, blockCount, Query8(query), bound: bound)
                                 : scan(blocks, blockCount, Query(query, dim: dim), bound: bound)
            if lanes.tookAny { fold(lanes, into: target, ids: ids, bestDistance, bestID) }
        }
    }
}

private typealias Lanes = SIMD8<Float>

/// ‖c‖² − 2z·c for the 8 codes of one block of `LeafScan.foldNearest`.
private protocol BlockDistances {
    /// Vectors per block (d + 1).
    var stride: Int { get }
    func distances(_ block: UnsafePointer<Lanes>) -> Lanes
}

/// A query of 8 dimensions: its coefficients held in registers across the leaf, the
/// dimension loop unrolled into two chains of multiply-adds.
private struct Query8: BlockDistances {
    let a0, a1, a2, a3, a4, a5, a6, a7: Lanes
    var stride: Int { 9 }

    @inline(__always)
    init(_ a: UnsafePointer<Float>) {
        (a0, a1, a2, a3) = (Lanes(repeating: a[0]), Lanes(repeating: a[1]), Lanes(repeating: a[2]), Lanes(repeating: a[3]))
        (a4, a5, a6, a7) = (Lanes(repeating: a[4]), Lanes(repeating: a[5]), Lanes(repeating: a[6]), Lanes(repeating: a[7]))
    }

    @inline(__always)
    func distances(_ b: UnsafePointer<Lanes>) -> Lanes {
        var even = b[8]
        var odd = a1 * b[1]
        even.addProduct(a0, b[0])
        odd.addProduct(a3, b[3])
        even.addProduct(a2, b[2])
        odd.addProduct(a5, b[5])
        even.addProduct(a4, b[4])
        odd.addProduct(a7, b[7])
        even.addProduct(a6, b[6])
        return even + odd
    }
}

/// A query of any dimension.
private struct Query: BlockDistances {
    let a: UnsafePointer<Float>
    let dim: Int
    var stride: Int { dim &+ 1 }

    @inline(__always)
    init(_ a: UnsafePointer<Float>, dim: Int) { (self.a, self.dim) = (a, dim) }

    @inline(__always)
    func distances(_ b: UnsafePointer<Lanes>) -> Lanes {
        var (even, odd) = (b[dim], Lanes())
        var c = 0
        while c &+ 1 < dim {
            even.addProduct(Lanes(repeating: a[c]), b[c])
            odd.addProduct(Lanes(repeating: a[c &+ 1]), b[c &+ 1])
            c &+= 2
        }
        if c < dim { even.addProduct(Lanes(repeating: a[c]), b[c]) }
        return even + odd
    }
}

/// Each lane's best distance and its position (a Float, exact below 2²⁴, so that every step
/// is one float operation), over some of a leaf's blocks taken from the last to the first:
/// a lane takes a distance not above its best, so among equal ones it keeps its lowest position.
/// It starts at the query's best so far, with no position: most lanes of most leaves take nothing.
private struct LaneBest {
    var distance: Lanes
    var position = Lanes(repeating: .infinity)

    @inline(__always)
    init(bound: Float) { distance = Lanes(repeating: bound) }

    @inline(__always)
    var tookAny: Bool { any(position .< Lanes(repeating: .infinity)) }

    @inline(__always)
    mutating func take(_ d: Lanes, at positions: Lanes) {
        let better = d .<= distance
        distance.replace(with: d, where: better)
        position.replace(with: positions, where: better)
    }
}

/// The leaf's blocks from the last to the first, alternately into two `LaneBest`s: two
/// independent chains of compare and select, where one would wait on the other. The block
/// count is even (a loop without a last odd block, which LLVM vectorized badly).
@inline(__always)
private func scan<Q: BlockDistances>(_ blocks: UnsafePointer<Lanes>, _ blockCount: Int, _ query: Q, bound: Float) -> Halves {
    var lanes = Halves(first: LaneBest(bound: bound), second: LaneBest(bound: bound))
    var block = blockCount &- 2
    var positions = Lanes(0, 1, 2, 3, 4, 5, 6, 7) + Lanes(repeating: Float(8 &* block))
    let eight = Lanes(repeating: 8)
    while block >= 0 {
        lanes.first.take(query.distances(blocks + (block &+ 1) &* query.stride), at: positions + eight)
        lanes.second.take(query.distances(blocks + block &* query.stride), at: positions)
        positions -= eight + eight
        block &-= 2
    }
    return lanes
}

/// The two running bests of one query against one leaf.
private struct Halves {
    var first: LaneBest
    var second: LaneBest

    /// Whether a lane found a distance not above the query's best: only then is there
    /// anything to fold.
    @inline(__always)
    var tookAny: Bool { first.tookAny || second.tookAny }
}

/// The smallest of a query's 16 lane distances and the lowest position holding it, folded into
/// best[target] when it beats it (a smaller distance, or an equal one with a lower id). NaN
/// never reached a lane, and a lane that took nothing holds the best so far at position +inf.
///
/// Called only when a lane took something, and not inlined: its registers would crowd the
/// scanning loop's. The lanes come through memory and are read one by one without branches
/// (a reduction in vector registers, or vectors passed as arguments, made LLVM split the
/// scanning loop's vectors into halves; branches on the lanes mispredict).
@inline(never)
private func fold(_ lanes: Halves, into target: Int, ids: UnsafePointer<Int32>,
                  _ bestDistance: UnsafeMutablePointer<Float>, _ bestID: UnsafeMutablePointer<Int32>) {
    var lanes = (pairwise: lanes.first.distance, lanes.first, lanes.second)
    lanes.pairwise.replace(with: lanes.2.distance, where: lanes.2.distance .< lanes.1.distance)
    withUnsafeBytes(of: &lanes) { raw in
        // [pairwise minima, first.distance, first.position, second.distance, second.position], 8 each
        let v = raw.baseAddress!.assumingMemoryBound(to: Float.self)
        let minimum = min(min(min(v[0], v[1]), min(v[2], v[3])), min(min(v[4], v[5]), min(v[6], v[7])))
        var position = Float.infinity
        for k in 0..<8 {
            position = min(position, v[8 &+ k] == minimum ? v[16 &+ k] : .infinity)
            position = min(position, v[24 &+ k] == minimum ? v[32 &+ k] : .infinity)
        }
        guard position < .infinity else { return }  // (not reached after `tookAny`)
        let id = ids[Int(position)]
        if minimum < bestDistance[target] || id < bestID[target] {
            (bestDistance[target], bestID[target]) = (minimum, id)
        }
    }
}
