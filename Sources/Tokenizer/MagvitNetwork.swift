import Checkpoint
import Tensor

/// One entry of GSQ's flat `encoder.blocks` / `decoder.blocks` lists, in upstream's order.
enum MagvitBlock: Sendable {
    case residual(ResnetBlock)
    case attention(AttnBlock)
    /// 3×3 stride-2 conv, padding 1 on every side.
    case downsample(Conv2dLayer)
    case upsample(Upsample)
    case depthToSpace(DepthToSpaceUpsample)
    case adaptiveNorm(AdaptiveGroupNorm)

    /// x in place; `condition` is the decoder input's statistics (adaptive norms only).
    func forward(_ x: inout Tensor, _ ws: inout Workspace, condition: LatentStatistics?) {
        switch self {
        case .residual(let block): block.forward(&x, &ws)
        case .attention(let block): block.forward(&x, &ws)
        case .downsample(let conv):
            conv.forward(&ws.a, x, columns: &ws.columns)
            swap(&x, &ws.a)
        case .upsample(let block): block.forward(&x, &ws)
        case .depthToSpace(let block): block.forward(&x, &ws)
        case .adaptiveNorm(let block):
            guard let condition else { preconditionFailure("an adaptive norm needs the decoder input's statistics") }
            block.forward(&x, &ws, condition: condition)
        }
    }
}

/// The flat block list as upstream builds it: `encoder.blocks.{n}` numbered as appended.
private struct BlockList {
    let context: BlockContext
    let prefix: String
    var blocks: [MagvitBlock] = []

    var nextName: String { "\(prefix).\(blocks.count)" }

    mutating func residual(_ inChannels: Int, _ outChannels: Int) throws {
        blocks.append(.residual(try ResnetBlock(context, nextName, in: inChannels, out: outChannels, names: .magvit)))
    }

    mutating func attention(_ channels: Int) throws {
        blocks.append(.attention(try AttnBlock(magvit: context, nextName, channels: channels)))
    }

    mutating func adaptiveNorm(_ channels: Int, condition: Int) throws {
        blocks.append(.adaptiveNorm(try AdaptiveGroupNorm(context, nextName, channels: channels, conditionChannels: condition)))
    }

    /// A level's blocks: a ResNetBlock to `out` channels when the width changes (MAGVIT's), then
    /// `count` ResNetBlocks, each followed by attention if `attention`.
    mutating func level(_ channels: inout Int, to out: Int, count: Int, attention: Bool) throws {
        if channels != out { try residual(channels, out) }
        channels = out
        for _ in 0..<count {
            try residual(channels, channels)
            if attention { try self.attention(channels) }
        }
    }

    /// The middle: `count` ResNetBlocks, attention between consecutive ones if `attention`.
    mutating func middle(_ channels: Int, count: Int, attention: Bool) throws {
        for j in 0..<count {
            try residual(channels, channels)
            if attention && j < count - 1 { try self.attention(channels) }
        }
    }
}

/// GSQ's encoder or decoder: conv_in, the flat block list, then GroupNorm, SiLU and the last
/// conv. `encoder` and `decoder` build them as flex_gen's `flexTokenizerEncoder.py` and
/// `flexTokenizerDecoder.py` do.
struct MagvitCoder: Sendable {
    let convIn: Conv2dLayer
    let blocks: [MagvitBlock]
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer
    /// Whether adaptive norms condition the blocks on the input's statistics (the decoder's).
    let isConditioned: Bool

    /// x in place: the input on entry, the output on return.
    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        let condition = isConditioned ? LatentStatistics(x) : nil
        convIn.forward(&ws.a, x, columns: &ws.columns)
        swap(&x, &ws.a)
        for block in blocks { block.forward(&x, &ws, condition: condition) }
        normOut.forwardSwish(&ws.a, x)
        convOut.forward(&x, ws.a, columns: &ws.columns)
    }

    /// image [B, in, H, W] → z [B, D, H/f, W/f]:
    ///
    ///     conv_in 3×3 in → ch
    ///     level i = 0..L−1: ResNetBlock(→ ch·ch_mult[i]) when the width changes, then
    ///                       encoder_blocks[i] × ResNetBlock (+ attention at the level's factor),
    ///                       Downsample unless i = L−1
    ///     encoder_blocks[L] × ResNetBlock, attention between consecutive ones if mid_attention
    ///     fianl_layers [sic]: GroupNorm, SiLU, conv 1×1 → D        (no quant_conv follows)
    static func encoder(_ config: EncoderDecoderConfig, _ context: BlockContext) throws -> MagvitCoder {
        let (w, levels) = (context.weights, config.chMult.count)
        guard let counts = config.encoderBlocks, counts.count == levels + 1 else {
            throw TokenizerError.invalidConfig("encoder_decoder.encoder_blocks needs one count per level, then the middle's")
        }
        let convIn = try Conv2dLayer(w, "encoder.conv_in", in: config.inChannels, out: config.ch, kernel: 3)
        var list = BlockList(context: context, prefix: "encoder.blocks")
        var channels = config.ch
        for i in 0..<levels {
            try list.level(&channels, to: config.ch * config.chMult[i], count: counts[i],
                           attention: config.hasAttention(level: i))
            if i < levels - 1 {
                list.blocks.append(.downsample(try Conv2dLayer(w, "\(list.nextName).conv", in: channels, out: channels,
                                                               kernel: 3, stride: 2, padding: .symmetric(1))))
            }
        }
        try list.middle(channels, count: counts[levels], attention: config.midAttention == true)
        return MagvitCoder(convIn: convIn, blocks: list.blocks,
                           normOut: try context.norm("encoder.fianl_layers.0", channels: channels),
                           convOut: try Conv2dLayer(w, "encoder.fianl_layers.2", in: channels, out: config.zChannels, kernel: 1),
                           isConditioned: false)
    }

    /// z_q [B, D, h, w] → image [B, out, h·f, w·f]:
    ///
    ///     conv_in 3×3 D → ch·ch_mult[L−1]
    ///     decoder_blocks[L] × ResNetBlock, attention between consecutive ones if mid_attention
    ///     adaptive norm (if adaptive_norm)
    ///     level i = L−1..0: ResNetBlock(→ ch·ch_mult[i]) when the width changes, then
    ///                       decoder_blocks[i] × ResNetBlock (+ attention at the level's factor),
    ///                       unless i = 0: upsample (depth-to-space or nearest + conv), adaptive norm
    ///     final_layers: GroupNorm, SiLU, conv 3×3 → out
    ///
    /// Every adaptive norm is conditioned on the statistics of z_q itself (`LatentStatistics`).
    static func decoder(_ config: EncoderDecoderConfig, _ context: BlockContext) throws -> MagvitCoder {
        let (w, levels) = (context.weights, config.chMult.count)
        guard let counts = config.decoderBlocks, counts.count == levels + 1 else {
            throw TokenizerError.invalidConfig("encoder_decoder.decoder_blocks needs one count per level, then the middle's")
        }
        var channels = config.ch * config.chMult[levels - 1]
        let convIn = try Conv2dLayer(w, "decoder.conv_in", in: config.zChannels, out: channels, kernel: 3)
        var list = BlockList(context: context, prefix: "decoder.blocks")
        let adaptive = config.adaptiveNorm == true
        try list.middle(channels, count: counts[levels], attention: config.midAttention == true)
        if adaptive { try list.adaptiveNorm(channels, condition: config.zChannels) }
        for i in (0..<levels).reversed() {
            try list.level(&channels, to: config.ch * config.chMult[i], count: counts[i],
                           attention: config.hasAttention(level: i))
            if i > 0 {
                list.blocks.append(config.depthToSpace == true
                    ? .depthToSpace(try DepthToSpaceUpsample(context, list.nextName, channels: channels))
                    : .upsample(try Upsample(context, list.nextName, channels: channels)))
                if adaptive { try list.adaptiveNorm(channels, condition: config.zChannels) }
            }
        }
        return MagvitCoder(convIn: convIn, blocks: list.blocks,
                           normOut: try context.norm("decoder.final_layers.0", channels: channels),
                           convOut: try Conv2dLayer(w, "decoder.final_layers.2", in: channels, out: config.outChannels, kernel: 3),
                           isConditioned: adaptive)
    }
}
