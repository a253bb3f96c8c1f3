import Tensor

/// nn.Conv2d: `<name>.weight` [out, in, k, k] and `<name>.bias` [out].
struct Conv2dLayer: Sendable {
    let weight: Tensor
    let bias: Tensor
    let stride: Int
    let padding: Padding2D

    init(_ weights: Weights, _ name: String, in inChannels: Int, out outChannels: Int, kernel: Int,
         stride: Int = 1, padding: Padding2D? = nil) throws {
        weight = try weights.require("\(name).weight", [outChannels, inChannels, kernel, kernel])
        bias = try weights.require("\(name).bias", [outChannels])
        self.stride = stride
        self.padding = padding ?? .symmetric(kernel / 2)
    }

    /// out [B, out, Ho, Wo] = conv(x [B, in, H, W])
    func forward(_ out: inout Tensor, _ x: Tensor, columns: inout [Float]) {
        conv2d(&out, x, weight: weight, bias: bias, stride: stride, padding: padding, columns: &columns)
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

    func norm(_ name: String, channels: Int) throws -> GroupNormLayer {
        try GroupNormLayer(weights, name, channels: channels, groups: groups, eps: eps)
    }
}
