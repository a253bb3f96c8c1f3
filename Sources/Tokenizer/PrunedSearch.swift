import Dispatch
import Foundation
import SearchKernels
import Tensor

/// The code the pruned search runs for its box tests and leaf scoring.
enum SearchPath: Sendable {
    /// Any CPU: one sgemm per leaf and block of queries, its scores folded afterwards; box
    /// tests in baseline vectors.
    case portable
    /// SearchKernels, built for AVX2 and FMA: `LeafScan` keeps the distances in registers,
    /// `BoxScan` tests 8 queries a vector.
    case avx2

    /// `avx2` where the CPU has AVX2 and FMA (SearchKernels is built for them on x86-64).
    static let fastest: SearchPath = {
        #if arch(x86_64)
        return CPUFlags.current.contains("avx2") && CPUFlags.current.contains("fma") ? .avx2 : .portable
        #else
        return .portable  // SearchKernels is built for the baseline here, and was not measured
        #endif
    }()

    /// The paths this CPU runs: both where `avx2` is the fastest.
    static var available: [SearchPath] { fastest == .avx2 ? [.portable, .avx2] : [.portable] }
}

extension CodebookIndex {
    /// m·n·k of every sgemm the pruned search issues stays at or below OpenBLAS's threshold
    /// for threading a GEMM (interface/gemm.c: SMP_THRESHOLD_MIN 65536 × GEMM_MULTITHREAD_THRESHOLD 4),
    /// so OpenBLAS runs each on the calling worker: Dispatch's workers are the only pool.
    static let singleThreadedProduct = 65536 * 4

    /// Query-code pairs of a full scan below which the search runs on the calling thread:
    /// waking the workers costs more than they save there. On the portable path, 256 queries
    /// against 16,384 codes (2²² pairs) took 0.59 ms on 2 workers, 0.32 ms on one; on the avx2
    /// path, in parts, one worker was faster by the median in 8 of 10 alternating rounds
    /// (0.55–0.60 ms against 0.49–0.71). Re-measured over 16 rounds (2026-12-08): 2 workers took
    /// 0.33–0.49 ms or 0.59–0.96, by turns (the machine's two cores at times slowed each other),
    /// one worker 0.49–0.81: the medians 0.76 against 0.65 ms on the shipped codebook.
    static let parallelWork = 1 << 23

    /// Parts of the queries per worker on the `avx2` path (`nearestInParts`).
    static let partsPerWorker = 2

    /// Chunks of each step per worker, taken by whichever worker is free: with four, a worker
    /// left alone with the last chunk of the leaf scoring cost 10–20 % at two threads.
    static let chunksPerWorker = 16

    /// Exact nearest codes through the tree (`CodebookIndex`), for `nearestCodes`. Leaf-major,
    /// so that each sgemm multiplies one leaf by every query that needs it:
    ///
    /// 1. the queries sorted by the leaf they fall in (their home), each home scored against
    ///    its queries: a first best per query (with few queries on the portable path, the home
    ///    is the ancestor of `span` leaves, so that each of its sgemms still has about 8
    ///    queries or more);
    /// 2. per 8 queries, a bit per leaf whose box could hold a code as near as their best
    ///    (`candidateMasks`; a walk of the tree per home group pruned almost nothing, the
    ///    farthest query of a group reaching every box);
    /// 3. per leaf, the queries whose bit is set scored against it (one sgemm, or `LeafScan`),
    ///    folded into their best; on the avx2 path the nearer leaves first, and the others only
    ///    if their bound still passes (`nearestNearFirst`).
    ///
    /// On the portable path steps 1 to 3 each spread over `workers` Dispatch workers, every
    /// sgemm single-threaded; on the avx2 path each worker searches parts of the queries alone
    /// (`nearestInParts`). One worker when the search is small (`parallelWork`).
    func nearestPruned(_ queries: [Float], count: Int, workers: Int = KernelThreads.count,
                       path: SearchPath = .fastest) -> [Int32] {
        let workers = count * size >= Self.parallelWork ? max(1, workers) : 1
        if path == .avx2 && workers > 1 { return nearestInParts(queries, count: count, workers: workers) }
        let plan = QueryPlan(self, queries, count: count)
        var best = Best(count: count)
        // 1. Homes: each query is in one, so the workers write disjoint rows. A home is the
        //    node of `span` leaves (a power of 2) at level depth − log2(span). `LeafScan` scores
        //    query by query, with no sgemm to fill: its homes are single leaves.
        let span = path == .avx2 ? 1 : homeSpan(count)
        let homes = ranges(leafCount / span, workers,
                           weight: { plan.firstOfLeaf[($0 + 1) * span] - plan.firstOfLeaf[$0 * span] })
        let sortedRows = (0..<count).map { Int32($0) }
        best.withSinks { sink in
            forEach(homes.count, workers) { chunk in
                var scorer = LeafScorer(self, path)
                for home in homes[chunk] {
                    let rows = sortedRows[plan.firstOfLeaf[home * span]..<plan.firstOfLeaf[(home + 1) * span]]
                    let node = (firstLeaf + 1) / span - 1 + home
                    if !rows.isEmpty { scorer.score(node: node, rows: rows, plan, into: sink, rowOffset: 0) }
                }
            }
        }
        // 2. Candidate leaves of every 8 queries, as bits: masks [leaves, blocks].
        let blocks = (count + 7) / 8
        let threshold = (0..<(blocks * 8)).map { s in s < count ? best.distance[s] + plan.offset[s] : .nan }
        if path == .avx2 { return nearestNearFirst(plan, best: best, threshold: threshold, blocks: blocks) }
        // From here on, the portable path.
        var masks = [UInt8](repeating: 0, count: leafCount * blocks)
        masks.withUnsafeMutableBufferPointer { masks in
            let out = SharedWrites(base: masks.baseAddress!)
            let part = (blocks + workers * Self.chunksPerWorker - 1) / (workers * Self.chunksPerWorker)
            forEach((blocks + part - 1) / part, workers) { k in
                candidateMasks(plan, threshold: threshold, blocks: (k * part)..<min(blocks, (k + 1) * part),
                               into: out.base, stride: blocks)
            }
            clearHomes(plan, span: span, masks: out.base, stride: blocks)
        }
        // 3. Each worker folds into its own copy of the best (starting from step 1's, so that a
        //    leaf's column is searched for its position only when it beats the home), merged
        //    afterwards; the order of the leaves does not change the result (smallest distance,
        //    then lowest id), so the chunks can be small and go to whichever worker is free.
        let candidates = masks
        let perLeaf = (0..<leafCount).map { leaf in
            masks[(leaf * blocks)..<((leaf + 1) * blocks)].reduce(0) { $0 + $1.nonzeroBitCount }
        }
        let leafChunks = ranges(leafCount, workers, weight: { perLeaf[$0] })
        var partial = Best(repeating: best, times: workers)
        partial.withSinks { sink in
            Parallel.forTasks(leafChunks.count, workers: workers) { chunk, worker in
                var scorer = LeafScorer(self, .portable)
                var rows = [Int32](repeating: 0, count: count)
                for leaf in leafChunks[chunk] where perLeaf[leaf] > 0 {
                    let n = candidateRows(candidates, leaf: leaf, blocks: blocks, into: &rows)
                    scorer.score(node: firstLeaf + leaf, rows: rows[..<n], plan, into: sink, rowOffset: worker * count)
                }
            }
        }
        for worker in 0..<workers { best.merge(partial, from: worker * count) }
        return plan.ids(best)
    }

    /// The `avx2` path on several workers: the queries cut into parts (`partsPerWorker` per
    /// worker, taken by whichever worker is free), each part searched start to end by one
    /// worker alone. `LeafScan` gains nothing from scoring many queries at once, and a worker
    /// is woken once per search instead of once per step, with no serial step between (4096
    /// queries against 16,384 codes on 2 workers: faster in 4 of 6 alternating rounds).
    private func nearestInParts(_ queries: [Float], count: Int, workers: Int) -> [Int32] {
        let parts = Parallel.ranges(count, parts: workers * Self.partsPerWorker, align: 8)
        var ids = [Int32](repeating: 0, count: count)
        ids.withUnsafeMutableBufferPointer { ids in
            let out = SharedWrites(base: ids.baseAddress!)
            Parallel.forTasks(parts.count, workers: workers) { task, _ in
                let part = parts[task]
                let found = nearestPruned(Array(queries[(part.lowerBound * dim)..<(part.upperBound * dim)]),
                                          count: part.count, workers: 1, path: .avx2)
                (out.base + part.lowerBound).update(from: found, count: part.count)
            }
        }
        return ids
    }

    /// Steps 2 and 3 on the avx2 path, on one worker: the candidate leaves whose box bound is
    /// within a quarter of a query's threshold are scored first, every leaf in turn; then the
    /// others, each only if its bound is still within the threshold of the query's best so far,
    /// which the near leaves have mostly brought down. (Over the benchmark's files: 26.8 leaves
    /// scored per query instead of 39.4 on the shipped codebook with photo latents, 20.0
    /// instead of 26.2 on a random one; a simulation scoring each query's leaves in order of
    /// their bound gave 25.4 and 20.0.)
    private func nearestNearFirst(_ plan: QueryPlan, best: Best, threshold: [Float], blocks: Int) -> [Int32] {
        let count = plan.order.count
        var masks = [UInt8](repeating: 0, count: leafCount * blocks)
        // bounds[leaf, sorted position]: each query's bound, written beside its bit.
        var bounds = [Float](repeating: 0, count: leafCount * blocks * 8)
        masks.withUnsafeMutableBufferPointer { masks in
        bounds.withUnsafeMutableBufferPointer { bounds in
        plan.lanes.withUnsafeBufferPointer { lanes in
        threshold.withUnsafeBufferPointer { threshold in
        lower.withUnsafeBufferPointer { lower in
        upper.withUnsafeBufferPointer { upper in
            for b in 0..<blocks {
                BoxScan.candidateMasks(queries: lanes.baseAddress! + b * dim, dim: dim, limit: threshold.baseAddress! + b * 8,
                                       lower: lower.baseAddress! + firstLeaf * boxStride,
                                       upper: upper.baseAddress! + firstLeaf * boxStride, boxStride: boxStride,
                                       leafCount: leafCount, into: masks.baseAddress! + b, stride: blocks,
                                       bounds: bounds.baseAddress! + 8 * b)
            }
            clearHomes(plan, span: 1, masks: masks.baseAddress!, stride: blocks)
        }
        }
        }
        }
        }
        }
        var best = best
        var scorer = LeafScorer(self, .avx2)
        var rows = [Int32](repeating: 0, count: count)
        let near = threshold.map { $0 * Self.nearFraction }
        best.withSinks { sink in
        bounds.withUnsafeBufferPointer { bounds in
        near.withUnsafeBufferPointer { near in
        plan.offset.withUnsafeBufferPointer { offset in
            for round in 0..<2 {
                for leaf in 0..<leafCount {
                    let bound = bounds.baseAddress! + leaf * blocks * 8
                    let n = candidateRows(masks, leaf: leaf, blocks: blocks, into: &rows) { s in
                        let (b, isNear) = (bound[s], bound[s] <= near[s] ? 1 : 0)
                        return round == 0 ? isNear : (1 - isNear) & (b <= sink.distance[s] + offset[s] ? 1 : 0)
                    }
                    if n > 0 { scorer.score(node: firstLeaf + leaf, rows: rows[..<n], plan, into: sink, rowOffset: 0) }
                }
            }
        }
        }
        }
        }
        return plan.ids(best)
    }

    /// The share of a query's threshold within which a leaf's box bound makes it a near
    /// candidate (`nearestNearFirst`).
    static let nearFraction: Float = 0.25

    /// Clears the bits of the leaves each query's home covers (scored in step 1).
    private func clearHomes(_ plan: QueryPlan, span: Int, masks: UnsafeMutablePointer<UInt8>, stride: Int) {
        for s in 0..<plan.order.count {
            let first = plan.home[s] / span * span
            for leaf in first..<(first + span) { masks[leaf * stride + s / 8] &= ~UInt8(1 << (s % 8)) }
        }
    }

    /// For the queries of `blocks` (8 sorted positions each), bit j of masks[leaf · stride + b]
    /// is set when query 8b + j must score `leaf`: the box bound (as `boxBound`) of its point
    /// is within its threshold. Padding lanes are NaN and never pass. The portable path's test;
    /// the avx2 path runs the same sum as `BoxScan`, built for AVX2 (`nearestNearFirst`).
    private func candidateMasks(_ plan: QueryPlan, threshold: [Float], blocks: Range<Int>,
                                into masks: UnsafeMutablePointer<UInt8>, stride: Int) {
        typealias Lanes = SIMD8<Float>
        let bits = SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)
        plan.lanes.withUnsafeBufferPointer { lanes in
        threshold.withUnsafeBufferPointer { threshold in
        lower.withUnsafeBufferPointer { lower in
        upper.withUnsafeBufferPointer { upper in
            for b in blocks {
                let z = lanes.baseAddress! + b * dim
                let limit = UnsafeRawPointer(threshold.baseAddress! + b * 8).loadUnaligned(as: Lanes.self)
                for leaf in 0..<leafCount {
                    let (low, high) = (lower.baseAddress! + (firstLeaf + leaf) * boxStride,
                                       upper.baseAddress! + (firstLeaf + leaf) * boxStride)
                    // Σ_c max(lower_c − z_c, z_c − upper_c, 0)², 8 queries at a time.
                    var bound = Lanes()
                    for c in 0..<dim {
                        let below = Lanes(repeating: low[c]) - z[c]
                        let above = z[c] - Lanes(repeating: high[c])
                        var gap = below.replacing(with: above, where: above .> below)
                        gap.replace(with: 0, where: gap .< 0)
                        bound += gap * gap
                    }
                    let pass = bound .<= limit
                    masks[leaf * stride + b] = UInt8(truncatingIfNeeded: SIMD8<Int32>().replacing(with: bits, where: pass).wrappedSum())
                }
            }
        }
        }
        }
        }
    }

    /// The sorted positions whose bit is set in `leaf`'s row of the masks, ascending, and for
    /// which `keep` gives 1 (not 0), written to the front of `rows`; returns how many. Eight bytes (64 queries) at a time, most of
    /// them 0.
    private func candidateRows(_ masks: [UInt8], leaf: Int, blocks: Int, into rows: inout [Int32],
                               where keep: (Int) -> Int = { _ in 1 }) -> Int {
        masks.withUnsafeBytes { masks in
            rows.withUnsafeMutableBufferPointer { rows in
                let row = masks.baseAddress! + leaf * blocks
                var n = 0
                func add(_ word: UInt64, first: Int) {
                    var set = word
                    while set != 0 {
                        let s = first &+ set.trailingZeroBitCount
                        rows[n] = Int32(truncatingIfNeeded: s)
                        n &+= keep(s)  // without a branch: whether a row is kept is anyone's guess
                        set &= set - 1
                    }
                }
                var b = 0
                while b + 8 <= blocks {
                    let word = UInt64(littleEndian: row.loadUnaligned(fromByteOffset: b, as: UInt64.self))
                    if word != 0 { add(word, first: 8 * b) }
                    b += 8
                }
                for tail in b..<blocks { add(UInt64(row.load(fromByteOffset: tail, as: UInt8.self)), first: 8 * tail) }
                return n
            }
        }
    }

    /// Leaves per home for `count` queries: the fewest (a power of 2) that gives the homes about
    /// 8 queries each.
    private func homeSpan(_ count: Int) -> Int {
        var span = 1
        while span < leafCount && count * span < 8 * leafCount { span *= 2 }
        return span
    }

    /// 0..<count (leaves, or homes) cut into contiguous chunks of about equal `weight`,
    /// `chunksPerWorker` per worker.
    private func ranges(_ count: Int, _ workers: Int, weight: (Int) -> Int) -> [Range<Int>] {
        guard workers > 1 else { return [0..<count] }
        let total = (0..<count).reduce(0) { $0 + weight($1) + 1 }
        let parts = workers * Self.chunksPerWorker
        var ranges: [Range<Int>] = []
        var (from, sum) = (0, 0)
        for k in 0..<count {
            sum += weight(k) + 1
            if sum * parts >= total * (ranges.count + 1) || k == count - 1 {
                ranges.append(from..<(k + 1))
                from = k + 1
            }
        }
        return ranges
    }
}

/// body(i) for i in 0..<count, on at most `workers` of the kernels' Dispatch workers.
private func forEach(_ count: Int, _ workers: Int, _ body: @Sendable (Int) -> Void) {
    Parallel.forTasks(count, workers: workers) { task, _ in body(task) }
}

/// Where the workers write their disjoint parts of one array: the candidate masks (each
/// worker the columns of its own blocks), or the ids (each worker its own parts of the queries).
///
/// @unchecked Sendable: no element is written by two workers, and the array outlives them.
private struct SharedWrites<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
}
