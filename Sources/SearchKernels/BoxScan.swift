/// The pruned search's box test, 8 queries at a time: which leaves could hold a code nearer to
/// each query than its best so far. Built for AVX2 like the rest of the module (one 8-lane
/// vector per operation, where baseline x86-64 takes two). The portable path's
/// `CodebookIndex.candidateMasks` computes the same sum in Tokenizer, built for the baseline:
/// the two cannot share a function without one of them running on the other's instructions.
public enum BoxScan {
    /// For 8 queries and every leaf box: bit j of masks[leaf · stride] is set when query j's
    /// squared distance to the box is within limit[j],
    ///
    ///     bound_j = Σ_c max(lower_c − z_jc, z_jc − upper_c, 0)²  ≤  limit_j
    ///
    /// - queries: [dim] vectors, vector c holding coordinate c of the 8 queries (NaN lanes
    ///   never pass);
    /// - limit: 8 floats, one per query;
    /// - lower, upper: the leaves' boxes, [leafCount, boxStride] floats (boxStride ≥ dim);
    /// - bounds: where given, the 8 bounds themselves, at bounds[8 · leaf · stride].
    public static func candidateMasks(queries: UnsafePointer<SIMD8<Float>>, dim: Int, limit: UnsafePointer<Float>,
                                      lower: UnsafePointer<Float>, upper: UnsafePointer<Float>, boxStride: Int,
                                      leafCount: Int, into masks: UnsafeMutablePointer<UInt8>, stride: Int,
                                      bounds: UnsafeMutablePointer<Float>? = nil) {
        let limit = UnsafeRawPointer(limit).loadUnaligned(as: Lanes.self)
        let bits = SIMD8<Int32>(1, 2, 4, 8, 16, 32, 64, 128)
        for leaf in 0..<leafCount {
            let (low, high) = (lower + leaf &* boxStride, upper + leaf &* boxStride)
            var bound = Lanes()
            for c in 0..<dim {
                let below = Lanes(repeating: low[c]) - queries[c]
                let above = queries[c] - Lanes(repeating: high[c])
                var gap = below.replacing(with: above, where: above .> below)
                gap.replace(with: 0, where: gap .< 0)
                bound.addProduct(gap, gap)
            }
            masks[leaf &* stride] = byte(SIMD8<Int32>().replacing(with: bits, where: bound .<= limit))
            if let bounds { UnsafeMutableRawPointer(bounds + 8 &* leaf &* stride).storeBytes(of: bound, as: Lanes.self) }
        }
    }
}

private typealias Lanes = SIMD8<Float>

/// The lanes, distinct bits of a byte or 0, or-ed into one byte; read from memory (a vector
/// reduction made LLVM split the vectors of the loop around it into halves).
@inline(__always)
private func byte(_ v: SIMD8<Int32>) -> UInt8 {
    var v = v
    return withUnsafeBytes(of: &v) { raw in
        let i = raw.baseAddress!.assumingMemoryBound(to: Int32.self)
        return UInt8(truncatingIfNeeded: ((i[0] | i[1]) | (i[2] | i[3])) | ((i[4] | i[5]) | (i[6] | i[7])))
    }
}
