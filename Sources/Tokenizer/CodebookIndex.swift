/// The codebook ordered for the pruned search, built once at load.
///
/// A median-split tree: each node splits its codes on their widest dimension at the median,
/// down to leaves of at most `leafSize` codes (larger in codebooks of more than
/// `leafSize` · `maximumLeafCount`). The codes are stored contiguously in tree
/// order (so every node, leaf or not, is one run), each augmented with its squared norm so
/// that one sgemm with the queries augmented by a 1 gives ‖c‖² − 2 q·c directly:
///
///     columns    [d + 1, n]   column s = (c_j, ‖c_j‖²) with j = original[s]
///     original   [n]          column s → codebook row j, ascending within each leaf
///     lower/upper [nodes, boxStride]  the bounding box of each node's codes (d rounded up to
///                             a multiple of 8, the padding 0, for `boxBound`'s SIMD lanes)
///     start/end  [nodes]      node i holds columns start[i]..<end[i]
///
/// Nodes are numbered as an implicit complete binary tree: node i has children 2i + 1 and
/// 2i + 2; the leaves are the nodes of level `depth`, numbered 2^depth − 1 + k from left to right.
/// Pruning only pays in low dimensions: for d > `maximumTreeDimension`, or a codebook no
/// larger than a leaf, the tree is the root alone and the search is a plain blocked scan.
struct CodebookIndex: Sendable {
    /// Small leaves leave fewer codes to score (in 8 dimensions, leaves of 512 codes left a
    /// third of a 16384-code codebook per query, leaves of 128 a fifth), but every leaf costs a
    /// box test per 8 queries and sgemm calls: past `maximumLeafCount` leaves, larger ones.
    static let leafSize = 128
    static let maximumLeafCount = 512
    static let maximumTreeDimension = 16

    let dim: Int
    let size: Int
    /// Levels below the root (0: the root is the only leaf).
    let depth: Int
    /// [d + 1, n], dimension-major: row c < d holds coordinate c of every code in tree order,
    /// row d their ‖c‖² (the sgemm's B operand: a node's codes are a column range of it).
    let columns: [Float]
    /// The same codes leaf by leaf, 8 at a time, for `LeafScan`: [blocks, d + 1] vectors, vector
    /// c of a block holding coordinate c of its 8 codes (c = d: ‖c‖²). Each leaf has an even
    /// number of blocks, padded with codes of coordinates 0 and norm NaN, which are never nearest.
    /// Empty where the CPU does not run `LeafScan` (`SearchPath.fastest`).
    let blocks: [SIMD8<Float>]
    /// leaf → its first block ([leaves + 1], or [0] with no blocks).
    let firstBlock: [Int]
    let original: [Int32]
    let lower: [Float]
    let upper: [Float]
    /// d rounded up to a multiple of 8.
    let boxStride: Int
    let start: [Int]
    let end: [Int]
    /// Per internal node: the dimension it splits and the value at its median.
    let splitDimension: [Int]
    let splitValue: [Float]
    /// max_j ‖c_j‖², for the rounding margin of the pruning bound.
    let maximumSquaredNorm: Float

    var nodeCount: Int { start.count }
    var leafCount: Int { 1 << depth }
    var firstLeaf: Int { (1 << depth) - 1 }

    /// `vectors` is the codebook [size, dim], `squaredNorms` its ‖c_j‖².
    init(vectors: [Float], squaredNorms: [Float], dim: Int, leafSize: Int = CodebookIndex.leafSize,
         maximumLeafCount: Int = CodebookIndex.maximumLeafCount) {
        let size = squaredNorms.count
        precondition(vectors.count == size * dim && size > 0 && leafSize > 0 && maximumLeafCount > 0)
        var depth = 0
        if dim <= Self.maximumTreeDimension {
            while (size + (1 << depth) - 1) >> depth > leafSize && 2 << depth <= maximumLeafCount { depth += 1 }
        }
        let nodes = (2 << depth) - 1
        // `work` holds the codes in the current order, so that every pass reads rows in sequence.
        var work = vectors
        var order = (0..<size).map { Int32($0) }
        var start = [Int](repeating: 0, count: nodes)
        var end = [Int](repeating: size, count: nodes)
        var splitDimension = [Int](repeating: 0, count: nodes)
        var splitValue = [Float](repeating: 0, count: nodes)
        var keys: [Float] = []
        var permutation: [Int32] = []
        var moved: [Float] = []
        // Top down, level by level: each internal node splits its range at the median.
        for node in 0..<((1 << depth) - 1) {
            let (from, to) = (start[node], end[node])
            let widest = widestDimension(work, rows: from..<to, dim: dim)
            keys.removeAll(keepingCapacity: true)
            permutation.removeAll(keepingCapacity: true)
            for i in from..<to {
                keys.append(work[i * dim + widest])
                permutation.append(Int32(i - from))
            }
            let middle = (to - from) / 2
            selectMedian(&permutation, keys, kth: middle)
            reorder(&work, &order, from: from, dim: dim, sources: permutation.map { Int($0) }, scratch: &moved)
            splitDimension[node] = widest
            splitValue[node] = keys[Int(permutation[middle])]
            (start[2 * node + 1], end[2 * node + 1]) = (from, from + middle)
            (start[2 * node + 2], end[2 * node + 2]) = (from + middle, to)
        }
        // Within each leaf, the codes by original index: a leaf's ids then ascend along its
        // columns, which the plain scan's `foldArgmin` relies on for ties.
        for node in ((1 << depth) - 1)..<nodes where depth > 0 {
            let (from, to) = (start[node], end[node])
            let sources = (0..<(to - from)).sorted { order[from + $0] < order[from + $1] }
            reorder(&work, &order, from: from, dim: dim, sources: sources, scratch: &moved)
        }
        // Columns in tree order; leaf boxes, then every internal box as the union of its children's.
        var columns = [Float](repeating: 0, count: (dim + 1) * size)
        for s in 0..<size {
            for c in 0..<dim { columns[c * size + s] = work[s * dim + c] }
            columns[dim * size + s] = squaredNorms[Int(order[s])]
        }
        var firstBlock = [0]
        var blocks: [SIMD8<Float>] = []
        for leaf in 0..<(1 << depth) where SearchPath.fastest == .avx2 {
            let node = (1 << depth) - 1 + leaf
            let first = blocks.count
            let padding = [SIMD8<Float>](repeating: SIMD8(), count: dim) + [SIMD8(repeating: .nan)]
            for _ in 0..<((end[node] - start[node] + 15) / 16 * 2) { blocks += padding }
            for (k, s) in (start[node]..<end[node]).enumerated() {
                for c in 0...dim { blocks[first + (k / 8) * (dim + 1) + c][k % 8] = columns[c * size + s] }
            }
            firstBlock.append(blocks.count / (dim + 1))
        }
        let boxStride = (dim + 7) / 8 * 8
        var lower = [Float](repeating: 0, count: nodes * boxStride)
        var upper = [Float](repeating: 0, count: nodes * boxStride)
        let firstLeaf = (1 << depth) - 1
        for node in firstLeaf..<nodes {
            for c in 0..<dim {
                (lower[node * boxStride + c], upper[node * boxStride + c]) = (.infinity, -.infinity)
                for s in start[node]..<end[node] {
                    lower[node * boxStride + c] = min(lower[node * boxStride + c], work[s * dim + c])
                    upper[node * boxStride + c] = max(upper[node * boxStride + c], work[s * dim + c])
                }
            }
        }
        for node in stride(from: firstLeaf - 1, through: 0, by: -1) {
            for c in 0..<dim {
                lower[node * boxStride + c] = min(lower[(2 * node + 1) * boxStride + c], lower[(2 * node + 2) * boxStride + c])
                upper[node * boxStride + c] = max(upper[(2 * node + 1) * boxStride + c], upper[(2 * node + 2) * boxStride + c])
            }
        }
        self.dim = dim
        self.size = size
        self.depth = depth
        self.columns = columns
        self.blocks = blocks
        self.firstBlock = firstBlock
        self.original = order
        self.lower = lower
        self.upper = upper
        self.boxStride = boxStride
        self.start = start
        self.end = end
        self.splitDimension = splitDimension
        self.splitValue = splitValue
        self.maximumSquaredNorm = squaredNorms.max() ?? 0
    }

    /// The leaf (0..<leafCount) each of `count` points ([count, dim]) falls in when it walks
    /// down the splits.
    func homeLeaves(of points: UnsafePointer<Float>, count: Int) -> [Int] {
        let firstLeaf = firstLeaf
        return splitDimension.withUnsafeBufferPointer { dimension in
            splitValue.withUnsafeBufferPointer { value in
                (0..<count).map { i in
                    let point = points + i * dim
                    var node = 0
                    while node < firstLeaf {
                        node = point[dimension[node]] < value[node] ? 2 * node + 1 : 2 * node + 2
                    }
                    return node - firstLeaf
                }
            }
        }
    }
}

/// Squared distance between two boxes (a point being a box with low = high), a lower bound
/// of ‖z − c‖² for every z in the first and c in the second:
///
///     bound = Σ_c max(lower_c − high_c, low_c − upper_c, 0)²
///
/// All four are [stride] with stride a multiple of 8 (padding 0 everywhere adds nothing).
@inline(__always)
func boxBound(low: UnsafePointer<Float>, high: UnsafePointer<Float>,
              lower: UnsafePointer<Float>, upper: UnsafePointer<Float>, stride: Int) -> Float {
    typealias Lanes = SIMD8<Float>
    var sum = Lanes()
    for offset in Swift.stride(from: 0, to: stride * 4, by: 32) {
        let below = UnsafeRawPointer(lower).loadUnaligned(fromByteOffset: offset, as: Lanes.self)
            - UnsafeRawPointer(high).loadUnaligned(fromByteOffset: offset, as: Lanes.self)
        let above = UnsafeRawPointer(low).loadUnaligned(fromByteOffset: offset, as: Lanes.self)
            - UnsafeRawPointer(upper).loadUnaligned(fromByteOffset: offset, as: Lanes.self)
        var gap = below.replacing(with: above, where: above .> below)
        gap.replace(with: 0, where: gap .< 0)
        sum += gap * gap
    }
    return sum.sum()
}

/// Rows from..<from + sources.count of the row-major [·, dim] `work` and of `order` become
/// rows from + sources[k] in turn (a permutation of that range, relative to `from`).
private func reorder(_ work: inout [Float], _ order: inout [Int32], from: Int, dim: Int, sources: [Int],
                     scratch: inout [Float]) {
    let to = from + sources.count
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: work[(from * dim)..<(to * dim)])
    let originals = Array(order[from..<to])
    for (k, source) in sources.enumerated() {
        order[from + k] = originals[source]
        for c in 0..<dim { work[(from + k) * dim + c] = scratch[source * dim + c] }
    }
}

/// The dimension along which `rows` of a row-major [·, dim] matrix spread widest (the first
/// of equal spreads).
private func widestDimension(_ values: [Float], rows: Range<Int>, dim: Int) -> Int {
    var low = [Float](repeating: .infinity, count: dim)
    var high = [Float](repeating: -.infinity, count: dim)
    for i in rows {
        for c in 0..<dim {
            low[c] = min(low[c], values[i * dim + c])
            high[c] = max(high[c], values[i * dim + c])
        }
    }
    var widest = 0
    for c in 1..<max(1, dim) where high[c] - low[c] > high[widest] - low[widest] { widest = c }
    return widest
}

/// Reorders `permutation` (indices into `keys`) so that position `kth` holds the one a sort
/// by key would put there, with no larger key before it and no smaller one after
/// (quickselect, median-of-three pivot; a range that recurses too deep is sorted instead, so
/// the worst case stays n log n).
private func selectMedian(_ permutation: inout [Int32], _ keys: [Float], kth: Int) {
    guard !permutation.isEmpty else { return }
    var (low, high) = (0, permutation.count - 1)
    var budget = 2 * (Int.bitWidth - permutation.count.leadingZeroBitCount) + 4
    while high > low {
        budget -= 1
        if budget == 0 {
            permutation[low...high].sort { keys[Int($0)] < keys[Int($1)] }
            return
        }
        let middle = low + (high - low) / 2
        let (a, b, c) = (keys[Int(permutation[low])], keys[Int(permutation[middle])], keys[Int(permutation[high])])
        let pivot = max(min(a, b), min(max(a, b), c))
        // Hoare partition: [low, j] ≤ pivot ≤ [i, high]; equal keys split between both sides.
        var (i, j) = (low, high)
        while i <= j {
            while keys[Int(permutation[i])] < pivot { i += 1 }
            while keys[Int(permutation[j])] > pivot { j -= 1 }
            if i <= j {
                permutation.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        if kth <= j {
            high = j
        } else if kth >= i {
            low = i
        } else {
            return
        }
    }
}
