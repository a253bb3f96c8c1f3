// Exact nearest-row search for small code dimensions (d = 8) with box pruning, against a
// brute-force SIMD scan. Leaves of ~256 codes from a median-split tree; each query first scans
// the leaf it falls in, then every leaf whose bounding box could hold a nearer code.
// Usage: search CODEBOOK.npy QUERIES.npy [threads] [ids_out.npy]
// (the .npy files of Scripts/bench/run.py: Benchmarks/.cache/codebook_100000x8.npy ...)
import Dispatch
import Foundation

func milliseconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

func readNPY(_ path: String) -> (shape: [Int], values: [Float]) {
    let data = try! Data(contentsOf: URL(fileURLWithPath: path))
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let header = String(data: data.subdata(in: 10..<(10 + headerLength)), encoding: .ascii)!
    precondition(header.contains("'<f4'") && header.contains("False"), "want float32 C order: \(header)")
    let shapeText = header[header.range(of: "(")!.upperBound..<header.range(of: ")")!.lowerBound]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    var values = [Float](repeating: 0, count: shape.reduce(1, *))
    values.withUnsafeMutableBytes { dst in
        data.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[(10 + headerLength)...])) }
    }
    return (shape, values)
}

func writeNPY(_ ids: [Int32], _ path: String) {
    var text = "{'descr': '<i4', 'fortran_order': False, 'shape': (\(ids.count),), }"
    text += String(repeating: " ", count: (64 - (11 + text.utf8.count) % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
    data.append(contentsOf: Array(text.utf8))
    ids.withUnsafeBytes { data.append(contentsOf: $0) }
    try! data.write(to: URL(fileURLWithPath: path))
}

typealias V8 = SIMD8<Float>
let dim = 8

/// Codes grouped in leaves; within a leaf, stored dimension-major in blocks of 8 codes
/// ([block][d][8]) so that one SIMD8 load gives one coordinate of 8 codes.
struct PrunedIndex: @unchecked Sendable {
    let leafStart: [Int]          // first code slot of each leaf (slots padded to multiples of 8)
    let leafCount: [Int]
    let lo: [Float], hi: [Float]  // [d][leaf] bounding boxes
    let blocks: UnsafeMutablePointer<Float>
    let norms: UnsafeMutablePointer<Float>  // ‖c‖² per slot (padding: 1e30)
    let original: [Int32]         // slot → original row (Int32.max for padding)
    let leaves: Int
    // the tree, to find a query's own leaf: split dimension and value per internal node
    let splitDim: [Int], splitValue: [Float], leafOfNode: [Int]

    init(codes: [Float], n: Int, leafSize: Int = Int(ProcessInfo.processInfo.environment["LEAF"] ?? "128")!) {
        var order = Array(0..<n)
        var starts: [Int] = [], counts: [Int] = []
        var splitDim: [Int] = [], splitValue: [Float] = [], leafOfNode: [Int] = []
        var ranges: [(Int, Int)] = []
        // Build the tree breadth-first in an implicit layout: node i has children 2i+1, 2i+2.
        var depth = 0
        while (n >> depth) > leafSize { depth += 1 }
        let nodes = (1 << (depth + 1)) - 1
        splitDim = [Int](repeating: 0, count: nodes)
        splitValue = [Float](repeating: 0, count: nodes)
        leafOfNode = [Int](repeating: -1, count: nodes)
        func build(_ node: Int, _ lower: Int, _ upper: Int, _ level: Int) {
            if level == depth {
                leafOfNode[node] = ranges.count
                ranges.append((lower, upper))
                return
            }
            // split on the widest dimension at the median
            var best = 0, bestSpread: Float = -1
            for d in 0..<dim {
                var mn = Float.infinity, mx = -Float.infinity
                for i in lower..<upper { let v = codes[order[i] * dim + d]; mn = min(mn, v); mx = max(mx, v) }
                if mx - mn > bestSpread { bestSpread = mx - mn; best = d }
            }
            order[lower..<upper].sort { codes[$0 * dim + best] < codes[$1 * dim + best] }
            let mid = (lower + upper) / 2
            splitDim[node] = best
            splitValue[node] = codes[order[mid] * dim + best]
            build(2 * node + 1, lower, mid, level + 1)
            build(2 * node + 2, mid, upper, level + 1)
        }
        build(0, 0, n, 0)
        var slots = 0
        for (lower, upper) in ranges {
            starts.append(slots)
            counts.append(upper - lower)
            slots += (upper - lower + 7) / 8 * 8
        }
        let leaves = ranges.count
        var lo = [Float](repeating: .infinity, count: dim * leaves), hi = [Float](repeating: -.infinity, count: dim * leaves)
        let blocks = UnsafeMutablePointer<Float>.allocate(capacity: slots * dim)
        blocks.initialize(repeating: 0, count: slots * dim)
        let norms = UnsafeMutablePointer<Float>.allocate(capacity: slots)
        norms.initialize(repeating: 1e30, count: slots)  // padding codes are far away
        var original = [Int32](repeating: Int32.max, count: slots)
        for (leaf, (lower, upper)) in ranges.enumerated() {
            for (k, i) in (lower..<upper).enumerated() {
                let row = order[i]
                let slot = starts[leaf] + k
                original[slot] = Int32(row)
                var norm: Float = 0
                for d in 0..<dim { norm += codes[row * dim + d] * codes[row * dim + d] }
                norms[slot] = norm
                for d in 0..<dim {
                    let v = codes[row * dim + d]
                    blocks[(slot / 8) * 64 + d * 8 + slot % 8] = v
                    lo[d * leaves + leaf] = min(lo[d * leaves + leaf], v)
                    hi[d * leaves + leaf] = max(hi[d * leaves + leaf], v)
                }
            }
        }
        (self.leafStart, self.leafCount, self.lo, self.hi, self.blocks, self.original, self.leaves) =
            (starts, counts, lo, hi, blocks, original, leaves)
        self.norms = norms
        (self.splitDim, self.splitValue, self.leafOfNode) = (splitDim, splitValue, leafOfNode)
    }

    /// Scans one leaf with d' = ‖c‖² − 2 q·c (one multiply-add per coordinate); `best` is in
    /// the same units (the squared distance less ‖q‖²).
    @inline(__always)
    func scanLeaf(_ leaf: Int, _ qm2: [V8], _ best: inout Float, _ bestId: inout Int32) {
        let firstBlock = leafStart[leaf] / 8
        let blockCount = (leafCount[leaf] + 7) / 8
        var bestD = V8(repeating: .infinity)
        var bestSlot = SIMD8<Int32>(repeating: Int32.max)
        var slot = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) &+ Int32(firstBlock * 8)
        let raw = UnsafeRawPointer(blocks + firstBlock * 64)
        let rawNorms = UnsafeRawPointer(norms + firstBlock * 8)
        let (q0, q1, q2, q3, q4, q5, q6, q7) = (qm2[0], qm2[1], qm2[2], qm2[3], qm2[4], qm2[5], qm2[6], qm2[7])
        for b in 0..<blockCount {
            let base = raw + b * 256
            var acc = rawNorms.loadUnaligned(fromByteOffset: b * 32, as: V8.self)
            acc += base.loadUnaligned(fromByteOffset: 0, as: V8.self) * q0
            acc += base.loadUnaligned(fromByteOffset: 32, as: V8.self) * q1
            acc += base.loadUnaligned(fromByteOffset: 64, as: V8.self) * q2
            acc += base.loadUnaligned(fromByteOffset: 96, as: V8.self) * q3
            acc += base.loadUnaligned(fromByteOffset: 128, as: V8.self) * q4
            acc += base.loadUnaligned(fromByteOffset: 160, as: V8.self) * q5
            acc += base.loadUnaligned(fromByteOffset: 192, as: V8.self) * q6
            acc += base.loadUnaligned(fromByteOffset: 224, as: V8.self) * q7
            let better = acc .< bestD
            bestD.replace(with: acc, where: better)
            bestSlot.replace(with: slot, where: better)
            slot &+= 8
        }
        for lane in 0..<8 where bestSlot[lane] != Int32.max {
            let id = original[Int(bestSlot[lane])]
            let d = bestD[lane]
            if d < best || (d == best && id < bestId) { best = d; bestId = id }
        }
    }

    func nearest(_ query: UnsafePointer<Float>) -> Int32 {
        let q = (0..<dim).map { V8(repeating: query[$0]) }
        let qm2 = (0..<dim).map { V8(repeating: -2 * query[$0]) }
        var qq: Float = 0
        for d in 0..<dim { qq += query[d] * query[d] }
        var node = 0
        while leafOfNode[node] < 0 { node = query[splitDim[node]] < splitValue[node] ? 2 * node + 1 : 2 * node + 2 }
        let home = leafOfNode[node]
        var best = Float.infinity, bestId = Int32.max
        scanLeaf(home, qm2, &best, &bestId)
        // lower bound of every leaf box, 8 leaves at a time
        lo.withUnsafeBufferPointer { loB in
            hi.withUnsafeBufferPointer { hiB in
                var leaf = 0
                while leaf < leaves {
                    let width = min(8, leaves - leaf)
                    var bound = V8()
                    if width == 8 {
                        for d in 0..<dim {
                            let l = UnsafeRawPointer(loB.baseAddress! + d * leaves + leaf).loadUnaligned(as: V8.self)
                            let h = UnsafeRawPointer(hiB.baseAddress! + d * leaves + leaf).loadUnaligned(as: V8.self)
                            let below = l - q[d], above = q[d] - h
                            var gap = below.replacing(with: above, where: above .> below)
                            gap.replace(with: 0, where: gap .< 0)
                            bound += gap * gap
                        }
                    } else {
                        for lane in 0..<width {
                            var s: Float = 0
                            for d in 0..<dim {
                                let g = max(loB[d * leaves + leaf + lane] - query[d], query[d] - hiB[d * leaves + leaf + lane], 0)
                                s += g * g
                            }
                            bound[lane] = s
                        }
                        for lane in width..<8 { bound[lane] = .infinity }
                    }
                    // (1 − 1e-5): rounding in the bound never prunes a leaf that holds a nearer code
                    let open = bound * (1 - 1e-5) .<= V8(repeating: best + qq)
                    if any(open) {
                        for lane in 0..<width where open[lane] && leaf + lane != home {
                            if bound[lane] * (1 - 1e-5) <= best + qq { scanLeaf(leaf + lane, qm2, &best, &bestId) }
                        }
                    }
                    leaf += 8
                }
            }
        }
        return bestId
    }
}

/// Brute force with the same layout (all codes in one leaf): the baseline.
func bruteForce(_ codes: [Float], n: Int, _ query: UnsafePointer<Float>) -> Int32 {
    var best = Float.infinity, bestId: Int32 = 0
    for j in 0..<n {
        var s: Float = 0
        for d in 0..<dim { let g = codes[j * dim + d] - query[d]; s += g * g }
        if s < best { best = s; bestId = Int32(j) }
    }
    return bestId
}

struct IDs: @unchecked Sendable { let base: UnsafeMutablePointer<Int32> }

let args = CommandLine.arguments
let (cbShape, codes) = readNPY(args[1])
let (qShape, queries) = readNPY(args[2])
let threads = args.count > 3 ? Int(args[3])! : 1
precondition(cbShape[1] == dim && qShape[1] == dim)
let (n, count) = (cbShape[0], qShape[0])
let t0 = milliseconds()
let index = PrunedIndex(codes: codes, n: n)
print(String(format: "index: %d leaves, built in %.0f ms (once, at load)", index.leaves, milliseconds() - t0))

var ids = [Int32](repeating: 0, count: count)
func search(_ ids: inout [Int32]) {
    let chunk = (count + threads - 1) / threads
    queries.withUnsafeBufferPointer { qb in
        let qp = IDs(base: UnsafeMutablePointer(mutating: UnsafeRawPointer(qb.baseAddress!).assumingMemoryBound(to: Int32.self)))
        ids.withUnsafeMutableBufferPointer { ib in
            let out = IDs(base: ib.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let q = UnsafeRawPointer(qp.base).assumingMemoryBound(to: Float.self)
                for i in (t * chunk)..<min(count, (t + 1) * chunk) { out.base[i] = index.nearest(q + i * dim) }
            }
        }
    }
}
var runs: [Double] = []
for r in 0..<24 {
    let s = milliseconds()
    search(&ids)
    if r >= 3 { runs.append(milliseconds() - s) }
}
runs.sort()
print(String(format: "pruned search, %d queries × %d codes, %d thread(s): median %.3f ms (min %.3f)",
             count, n, threads, runs[runs.count / 2], runs[0]))
let bf0 = milliseconds()
var mismatches = 0
queries.withUnsafeBufferPointer { qb in
    for i in 0..<min(count, 512) where bruteForce(codes, n: n, qb.baseAddress! + i * dim) != ids[i] { mismatches += 1 }
}
print(String(format: "scalar brute force for those: %.1f ms", milliseconds() - bf0))
print("differences from a brute-force scan (first \(min(count, 512)) queries): \(mismatches)")
if args.count > 4 { writeNPY(ids, args[4]) }
