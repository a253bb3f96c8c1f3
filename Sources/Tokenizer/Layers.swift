import Tensor

/// nn.Conv2d: `<name>.weight` [out, in, k, k] and `<name>.bias` [out].
///
/// 3×3 stride-1 pad-1 convolutions with at least 8 input channels run by Winograd (F(4×4, 3×3) or
/// F(2×2, 3×3), as `WinogradTile.preferred` picks), their weights transformed once here (the
/// original weights are not kept); the rest (conv_in on 3 image channels, the stride-2
/// downsample, 1×1) by im2col + sgemm.
struct Conv2dLayer: Sendable {
    enum Kernel: Sendable {
        case im2col(Tensor)
        case winograd(Conv3x3Winograd)
    }

    let kernel: Kernel
    let bias: Tensor
    let stride: Int
    let padding: Padding2D

    init(_ weights: Weights, _ name: String, in inChannels: Int, out outChannels: Int, kernel: Int,
         stride: Int = 1, padding: Padding2D? = nil) throws {
        self.init(weight: try weights.require("\(name).weight", [outChannels, inChannels, kernel, kernel]),
                  bias: try weights.require("\(name).bias", [outChannels]), stride: stride, padding: padding)
    }

    /// weight [out, in, k, k], bias [out]; padding k/2 unless given.
    init(weight: Tensor, bias: Tensor, stride: Int = 1, padding: Padding2D? = nil) {
        let (outChannels, inChannels, kernel) = (weight.shape[0], weight.shape[1], weight.shape[2])
        self.bias = bias
        self.stride = stride
        self.padding = padding ?? .symmetric(kernel / 2)
        let winograd = kernel == 3 && stride == 1 && self.padding == .symmetric(1) && inChannels >= 8
        let tile = WinogradTile.preferred(inChannels: inChannels, outChannels: outChannels)
        self.kernel = winograd ? .winograd(Conv3x3Winograd(weight: weight, tile: tile)) : .im2col(weight)
    }

    /// out [B, out, Ho, Wo] = conv(x [B, in, H, W]); `columns` is the scratch of either algorithm.
    func forward(_ out: inout Tensor, _ x: Tensor, columns: inout [Float]) {
        switch kernel {
        case .im2col(let weight):
            conv2d(&out, x, weight: weight, bias: bias, stride: stride, padding: padding, columns: &columns)
        case .winograd(let weight):
            conv3x3Winograd(&out, x, weight: weight, bias: bias, scratch: &columns)
        }
    }
}

/// taming's `Normalize`: GroupNorm(32, C, eps=1e-6, affine) with `<name>.weight`, `<name>.bias` [C].
struct GroupNormLayer: Sendable {
    let weight: Tensor
    let bias: Tensor
    let groups: Int
    let eps: Float

    init(_ weights: Weights, _ name: String, channels: Int, groups: Int, eps: Float) throws {
        guard channels % groups == 0 else {
            throw TokenizerError.invalidConfig("\(name): \(channels) channels do not split into \(groups) groups")
        }
        weight = try weights.require("\(name).weight", [channels])
        bias = try weights.require("\(name).bias", [channels])
        self.groups = groups
        self.eps = eps
    }

    /// out = swish(GroupNorm(x)), the pairing every taming block uses.
    func forwardSwish(_ out: inout Tensor, _ x: Tensor) {
        groupNormSiLU(&out, x, groups: groups, weight: weight, bias: bias, eps: eps)
    }
}

/// What every block needs to know to declare its weights.
struct BlockContext {
    let weights: Weights
    let groups: Int
    let eps: Float

    /// A GroupNorm with the config's eps, or `eps` where upstream fixes its own.
    func norm(_ name: String, channels: Int, eps: Float? = nil) throws -> GroupNormLayer {
        try GroupNormLayer(weights, name, channels: channels, groups: groups, eps: eps ?? self.eps)
    }
}
