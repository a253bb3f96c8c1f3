/// Group normalization (PyTorch's GroupNorm; biased variance, as PyTorch uses).
///
///     x      [B, C, H, W]     (any trailing dims: the statistics run over C/G channels × the rest)
///     weight [C] or nil       (nil: affine=False)
///     bias   [C] or nil
///     out    [B, C, H, W]     out = (x − mean_g) / √(var_g + eps) · weight[c] + bias[c]
///
/// Group g holds the consecutive channels g·C/G ..< (g+1)·C/G. Statistics are accumulated in Double.
public func groupNorm(_ out: inout Tensor, _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?,
                      eps: Float) {
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
                        var sum = 0.0
                        for i in 0..<groupSize { sum += Double(values[i]) }
                        let mean = sum / Double(groupSize)
                        var squares = 0.0
                        for i in 0..<groupSize {
                            let d = Double(values[i]) - mean
                            squares += d * d
                        }
                        let invStd = 1 / (squares / Double(groupSize) + Double(eps)).squareRoot()
                        for cg in 0..<channelsPerGroup {
                            let c = g * channelsPerGroup + cg
                            // out = x·a + b with a = γ/σ, b = β − μ·γ/σ
                            let a = Float(Double(scale.base[c]) * invStd)
                            let b = Float(Double(shift.base[c]) - mean * Double(scale.base[c]) * invStd)
                            let offset = start + cg * plane
                            for i in 0..<plane { dst.base[offset + i] = src.base[offset + i] * a + b }
                        }
                    }
                }
            }
        }
    }
}
