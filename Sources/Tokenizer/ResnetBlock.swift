import Tensor

/// taming `ResnetBlock(in, out)` without time embedding and with dropout 0 (and GSQ's
/// `ResNetBlock`, the same arithmetic under other names: `ResnetBlock.Names`):
///
///     h = conv1(swish(norm1(x)))          3×3, in → out
///     h = conv2(swish(norm2(h)))          3×3, out → out
///     return shortcut(x) + h              nin_shortcut (1×1) when in ≠ out, else identity
struct ResnetBlock: Sendable {
    /// The five tensors' names within a block.
    struct Names {
        let norm1, conv1, norm2, conv2, shortcut: String

        static let taming = Names(norm1: "norm1", conv1: "conv1", norm2: "norm2", conv2: "conv2", shortcut: "nin_shortcut")
        /// GSQ: `net = Sequential(GroupNorm, SiLU, Conv, GroupNorm, SiLU, Dropout2d, Conv)`, `skip`.
        static let magvit = Names(norm1: "net.0", conv1: "net.2", norm2: "net.3", conv2: "net.6", shortcut: "skip")
    }

    let norm1: GroupNormLayer
    let conv1: Conv2dLayer
    let norm2: GroupNormLayer
    let conv2: Conv2dLayer
    let ninShortcut: Conv2dLayer?

    init(_ context: BlockContext, _ name: String, in inChannels: Int, out outChannels: Int,
         names: Names = .taming) throws {
        let w = context.weights
        norm1 = try context.norm("\(name).\(names.norm1)", channels: inChannels)
        conv1 = try Conv2dLayer(w, "\(name).\(names.conv1)", in: inChannels, out: outChannels, kernel: 3)
        norm2 = try context.norm("\(name).\(names.norm2)", channels: outChannels)
        conv2 = try Conv2dLayer(w, "\(name).\(names.conv2)", in: outChannels, out: outChannels, kernel: 3)
        ninShortcut = inChannels == outChannels ? nil
            : try Conv2dLayer(w, "\(name).\(names.shortcut)", in: inChannels, out: outChannels, kernel: 1)
    }

    /// x [B, in, H, W] → x [B, out, H, W], in place.
    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        norm1.forwardSwish(&ws.a, x)
        conv1.forward(&ws.b, ws.a, columns: &ws.columns)
        norm2.forwardSwish(&ws.a, ws.b)
        conv2.forward(&ws.b, ws.a, columns: &ws.columns)
        if let ninShortcut {
            ninShortcut.forward(&ws.a, x, columns: &ws.columns)
            swap(&x, &ws.a)
        }
        residualAdd(&x, ws.b)
    }
}
