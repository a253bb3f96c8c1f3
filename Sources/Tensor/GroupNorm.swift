import Foundation

/// Group normalization (PyTorch's GroupNorm; biased variance, as PyTorch uses).
///
///     x      [B, C, H, W]     (any trailing dims: the statistics run over C/G channels × the rest)
///     weight [C] or nil       (nil: affine=False)
///     bias   [C] or nil
///     out    [B, C, H, W]     out = (x − mean_g) / √(var_g + eps) · weight[c] + bias[c]
///
/// Group g holds the consecutive channels g·C/G ..< (g+1)·C/G. Statistics: two passes (mean,
/// then squared deviations), float SIMD within blocks of 1024 values, blocks summed in Double.
public func groupNorm(_ out: inout Tensor, _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?,
                      eps: Float) {
    normalizeGroups(&out, x, groups: groups, weight: weight, bias: bias, eps: eps, swish: false)
}

/// SiLU(GroupNorm(x)) in one pass over the output: out = n · sigmoid(n), n = groupNorm(x).
///
///     x [B, C, H, W] → out [B, C, H, W]      (same contract as `groupNorm`, then `silu`)
///
/// The pairing every taming block uses (ResnetBlock's norm → swish, norm_out → swish): the
/// normalized values are activated while still in registers instead of in a second pass.
public func groupNormSiLU(_ out: inout Tensor, _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?,
                          eps: Float) {
    normalizeGroups(&out, x, groups: groups, weight: weight, bias: bias, eps: eps, swish: true)
}

private func normalizeGroups(_ out: inout Tensor, _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?,
                             eps: Float, swish: Bool) {
    precondition(x.shape.count >= 2, "groupNorm wants [B, C, ...]")
    let (batch, channels) = (x.shape[0], x.shape[1])
    precondition(groups > 0 && channels % groups == 0, "groupNorm: \(channels) channels do not split into \(groups) groups")
    precondition(weight == nil || weight!.shape == [channels], "groupNorm: weight must be [\(channels)]")
    precondition(bias == nil || bias!.shape == [channels], "groupNorm: bias must be [\(channels)]")
    out.resize(to: x.shape)
    let plane = x.count / max(1, batch * channels)
    let channelsPerGroup = channels / groups
    let groupSize = channelsPerGroup * plane
    let ones = [Float](repeating: 1, count: channels)
    let zeros = [Float](repeating: 0, count: channels)
    let gamma = weight?.storage ?? ones
    let beta = bias?.storage ?? zeros

    x.storage.withUnsafeBufferPointer { xBuf in
        out.storage.withUnsafeMutableBufferPointer { outBuf in
            gamma.withUnsafeBufferPointer { gammaBuf in
                beta.withUnsafeBufferPointer { betaBuf in
                    let src = SharedConstPointer(xBuf.baseAddress!)
                    let dst = SharedPointer(outBuf.baseAddress!)
                    let scale = SharedConstPointer(gammaBuf.baseAddress!)
                    let shift = SharedConstPointer(betaBuf.baseAddress!)
                    Parallel.forEach(batch * groups, work: x.count) { bg in
                        let g = bg % groups
                        let start = bg * groupSize
                        let values = src.base + start
                        let mean = sum(values, count: groupSize) / Double(groupSize)
                        let variance = sumOfSquaredDeviations(values, count: groupSize, from: Float(mean))
                            / Double(groupSize)
                        let invStd = 1 / (variance + Double(eps)).squareRoot()
                        for cg in 0..<channelsPerGroup {
                            let c = g * channelsPerGroup + cg
                            // out = x·a + b with a = γ/σ, b = β − μ·γ/σ
                            let a = Float(Double(scale.base[c]) * invStd)
                            let b = Float(Double(shift.base[c]) - mean * Double(scale.base[c]) * invStd)
                            let offset = start + cg * plane
                            if swish {
                                scaleShiftSiLU(src.base + offset, into: dst.base + offset, count: plane, a, b)
                            } else {
                                scaleAndShift(src.base + offset, into: dst.base + offset, count: plane, a, b)
                            }
                        }
                    }
                }
            }
        }
    }
}

// Reductions in SIMD16<Float> over blocks of 1024 values, each block's total added in Double:
// vector speed, and the rounding of one block's float sum stays small.

private let reductionBlock = 1024

private func sum(_ values: UnsafePointer<Float>, count: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < count {
        let end = min(count, start + reductionBlock)
        var lanes = SIMD16<Float>()
        var i = start
        while i + 16 <= end {
            lanes += UnsafeRawPointer(values + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var block = lanes.sum()
        while i < end { block += values[i]; i += 1 }
        total += Double(block)
        start = end
    }
    return total
}

/// Σ (x − mean)², the second pass of a two-pass variance (no cancellation).
private func sumOfSquaredDeviations(_ values: UnsafePointer<Float>, count: Int, from mean: Float) -> Double {
    var total = 0.0
    var start = 0
    let center = SIMD16<Float>(repeating: mean)
    while start < count {
        let end = min(count, start + reductionBlock)
        var lanes = SIMD16<Float>()
        var i = start
        while i + 16 <= end {
            let d = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD16<Float>.self) - center
            lanes += d * d
            i += 16
        }
        var block = lanes.sum()
        while i < end { let d = values[i] - mean; block += d * d; i += 1 }
        total += Double(block)
        start = end
    }
    return total
}

/// out[i] = x[i]·a + b.
private func scaleAndShift(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int,
                           _ a: Float, _ b: Float) {
    var i = 0
    while i + 16 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: v * a + b, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count { out[i] = x[i] * a + b; i += 1 }
}

/// out[i] = y · sigmoid(y) with y = x[i]·a + b (polynomial exp, as `silu`).
private func scaleShiftSiLU(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int,
                            _ a: Float, _ b: Float) {
    var i = 0
    while i + 16 <= count {
        let y = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) * a + b
        UnsafeMutableRawPointer(out + i).storeBytes(of: y / (1 + expClamped(-y)), as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        let y = x[i] * a + b
        out[i] = y / (1 + exp(-y))
        i += 1
    }
}
