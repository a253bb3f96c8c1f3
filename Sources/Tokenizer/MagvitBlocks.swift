import Tensor

// The blocks of GSQ's MAGVIT-v2-like encoder and decoder (flex_gen
// `autoencoders/flexTokenizer/layers.py`) that taming has no exact twin for. Its ResNetBlock is
// taming's `ResnetBlock` under other names (`ResnetBlock.Names.magvit`), its AttentionBlock
// taming's `AttnBlock` built from other weights (below), its Upsample taming's `Upsample`, its
// Downsample a 3×3 stride-2 conv with symmetric padding.

extension AttnBlock {
    /// GSQ `AttentionBlock(C)`: taming's single-head attention with q, k and v from one 1×1
    /// conv and the GroupNorm's eps fixed at 1e-6.
    ///
    ///     h = norm(x); q, k, v = qkv_conv(h)[0:C], [C:2C], [2C:3C]
    ///     return x + proj_conv(softmax(qᵀk / √C) applied to v)
    init(magvit context: BlockContext, _ name: String, channels c: Int) throws {
        let norm = try context.norm("\(name).norm", channels: c, eps: 1e-6)
        // The C×C slices of qkv_conv [3C, C, 1, 1] are the three convs of taming's AttnBlock.
        let qkv = try context.weights.require("\(name).qkv_conv.weight", [3 * c, c, 1, 1])
        let qkvBias = try context.weights.require("\(name).qkv_conv.bias", [3 * c])
        func slice(_ part: Int) -> Conv2dLayer {
            Conv2dLayer(weight: Tensor(shape: [c, c, 1, 1], storage: Array(qkv.storage[(part * c * c)..<((part + 1) * c * c)])),
                        bias: Tensor(shape: [c], storage: Array(qkvBias.storage[(part * c)..<((part + 1) * c)])))
        }
        self.init(norm: norm, q: slice(0), k: slice(1), v: slice(2),
                  projOut: try Conv2dLayer(context.weights, "\(name).proj_conv", in: c, out: c, kernel: 1))
    }
}

/// GSQ `AdaptiveGroupNorm2D(cond = D, C)`: a GroupNorm without affine whose scale and shift
/// come from the statistics of the decoder's input (the quantized latent z_q, [B, D, h, w]):
///
///     s = √(var(z_q[b, d, :, :]) + 1e-6)     unbiased variance over the h·w positions
///     m = mean(z_q[b, d, :, :])
///     x = gamma(s)[b, c] · GroupNorm(x) + beta(m)[b, c]      gamma, beta: Linear(D → C)
struct AdaptiveGroupNorm: Sendable {
    let groups: Int
    let gammaWeight, gammaBias, betaWeight, betaBias: Tensor

    init(_ context: BlockContext, _ name: String, channels: Int, conditionChannels: Int) throws {
        let w = context.weights
        guard channels % context.groups == 0 else {
            throw TokenizerError.invalidConfig("\(name): \(channels) channels do not split into \(context.groups) groups")
        }
        groups = context.groups
        gammaWeight = try w.require("\(name).gamma.weight", [channels, conditionChannels])
        gammaBias = try w.require("\(name).gamma.bias", [channels])
        betaWeight = try w.require("\(name).beta.weight", [channels, conditionChannels])
        betaBias = try w.require("\(name).beta.bias", [channels])
    }

    /// x [B, C, H, W], in place; `condition` the statistics of z_q.
    func forward(_ x: inout Tensor, _ ws: inout Workspace, condition: LatentStatistics) {
        groupNorm(&ws.a, x, groups: groups, weight: nil, bias: nil, eps: 1e-6)
        swap(&x, &ws.a)
        var scale = Tensor(zeros: [0])
        var shift = Tensor(zeros: [0])
        linear(&scale, condition.std, weight: gammaWeight, bias: gammaBias)
        linear(&shift, condition.mean, weight: betaWeight, bias: betaBias)
        channelAffine(&x, scale: scale, shift: shift)
    }
}

/// Per image and channel of the quantized latent: its mean and √(unbiased variance + 1e-6),
/// each [B, D], what every `AdaptiveGroupNorm` of the decoder is conditioned on.
struct LatentStatistics {
    var mean: Tensor
    var std: Tensor

    /// z [B, D, h, w]; sums in Double.
    init(_ z: Tensor) {
        let (planes, plane) = (z.shape[0] * z.shape[1], z.shape[2] * z.shape[3])
        var mean = [Float](repeating: 0, count: planes)
        var std = [Float](repeating: 0, count: planes)
        for bd in 0..<planes {
            let values = z.storage[(bd * plane)..<((bd + 1) * plane)]
            let m = values.reduce(0.0) { $0 + Double($1) } / Double(plane)
            let squares = values.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) }
            // torch.var's default correction of 1 (the upstream comment says otherwise; the code rules).
            let variance = plane > 1 ? squares / Double(plane - 1) : .nan
            mean[bd] = Float(m)
            std[bd] = Float((variance + 1e-6).squareRoot())
        }
        self.mean = Tensor(shape: [z.shape[0], z.shape[1]], storage: mean)
        self.std = Tensor(shape: [z.shape[0], z.shape[1]], storage: std)
    }
}

/// GSQ `DepthToSpace2DWithConv(C, 2, 2)`: a 3×3 conv to 4C channels, then depth-to-space (DCR).
///   x [B, C, H, W] → [B, C, 2H, 2W]
struct DepthToSpaceUpsample: Sendable {
    let conv: Conv2dLayer

    init(_ context: BlockContext, _ name: String, channels: Int) throws {
        conv = try Conv2dLayer(context.weights, "\(name).conv", in: channels, out: 4 * channels, kernel: 3)
    }

    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        conv.forward(&ws.a, x, columns: &ws.columns)
        depthToSpace(&x, ws.a, blockSize: 2)
    }
}
