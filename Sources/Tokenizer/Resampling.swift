import Tensor

/// taming `Downsample(C, with_conv=True)`: `F.pad(x, (0, 1, 0, 1))`, then a 3×3 stride-2 conv
/// with no padding of its own.   x [B, C, H, W] → [B, C, H/2, W/2]
struct Downsample: Sendable {
    let conv: Conv2dLayer

    init(_ context: BlockContext, _ name: String, channels: Int) throws {
        conv = try Conv2dLayer(context.weights, "\(name).conv", in: channels, out: channels, kernel: 3,
                               stride: 2, padding: .rightBottom)
    }

    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        conv.forward(&ws.a, x, columns: &ws.columns)
        swap(&x, &ws.a)
    }
}

/// taming `Upsample(C, with_conv=True)`: nearest ×2, then a 3×3 conv (pad 1).
///   x [B, C, H, W] → [B, C, 2H, 2W]
struct Upsample: Sendable {
    let conv: Conv2dLayer

    init(_ context: BlockContext, _ name: String, channels: Int) throws {
        conv = try Conv2dLayer(context.weights, "\(name).conv", in: channels, out: channels, kernel: 3)
    }

    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        upsampleNearest2x(&ws.a, x)
        conv.forward(&x, ws.a, columns: &ws.columns)
    }
}
