import Checkpoint
import Tensor

extension EncoderDecoderConfig {
    /// Whether level `level` (0 = full resolution) has an AttnBlock after each ResnetBlock.
    /// taming/VQGAN-LC decide by the level's side length at the *configured* resolution,
    /// LlamaGen by position (the lowest-resolution level only).
    func hasAttention(level: Int) -> Bool {
        switch attentionPlacement {
        case .resolution: attnResolutions.contains(resolution >> level)
        case .lowestLevel: level == chMult.count - 1
        case .downsampleFactor: attnResolutions.contains(1 << level)
        }
    }

    /// taming families: ResnetBlocks per level (config validation requires it there).
    func tamingResBlocks() throws -> Int {
        guard let numResBlocks, numResBlocks > 0 else {
            throw TokenizerError.invalidConfig("encoder_decoder.num_res_blocks must be a positive count")
        }
        return numResBlocks
    }
}

/// One resolution level: ResnetBlocks, each optionally followed by an AttnBlock, then a
/// resampling step (Downsample in the encoder, Upsample in the decoder) except at the end.
struct Level<Resample: Sendable>: Sendable {
    var blocks: [ResnetBlock] = []
    var attentions: [AttnBlock] = []
    var resample: Resample?
}

/// The taming middle: ResnetBlock, AttnBlock, ResnetBlock at constant width.
struct MiddleBlocks: Sendable {
    let block1: ResnetBlock
    let attn1: AttnBlock
    let block2: ResnetBlock

    init(_ context: BlockContext, _ naming: any CheckpointNaming, network: String, channels: Int) throws {
        block1 = try ResnetBlock(context, naming.mid(network, part: 0), in: channels, out: channels)
        attn1 = try AttnBlock(context, naming.mid(network, part: 1), channels: channels)
        block2 = try ResnetBlock(context, naming.mid(network, part: 2), in: channels, out: channels)
    }

    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        block1.forward(&x, &ws)
        attn1.forward(&x, &ws)
        block2.forward(&x, &ws)
    }
}

/// taming `Encoder` (double_z=False): image [B, in, H, W] → z [B, z_channels, H/f, W/f].
///
///     conv_in 3×3 in → ch
///     level i = 0..L−1: num_res_blocks × ResnetBlock(ch·in_ch_mult[i] → ch·ch_mult[i]) (+ AttnBlock),
///                       Downsample unless i = L−1
///     mid; norm_out; swish; conv_out 3×3 → z_channels
struct Encoder: Sendable {
    let convIn: Conv2dLayer
    let levels: [Level<Downsample>]
    let mid: MiddleBlocks
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ config: EncoderDecoderConfig, _ context: BlockContext, _ naming: any CheckpointNaming) throws {
        let w = context.weights
        convIn = try Conv2dLayer(w, "encoder.conv_in", in: config.inChannels, out: config.ch, kernel: 3)
        let inChMult = [1] + config.chMult
        var blockIn = config.ch
        var levels: [Level<Downsample>] = []
        for i in config.chMult.indices {
            var level = Level<Downsample>()
            blockIn = config.ch * inChMult[i]
            let blockOut = config.ch * config.chMult[i]
            for j in 0..<(try config.tamingResBlocks()) {
                level.blocks.append(try ResnetBlock(context, naming.encoderBlock(level: i, index: j),
                                                    in: blockIn, out: blockOut))
                blockIn = blockOut
                if config.hasAttention(level: i) {
                    level.attentions.append(try AttnBlock(context, naming.encoderAttn(level: i, index: j),
                                                          channels: blockIn))
                }
            }
            if i != config.chMult.count - 1 {
                level.resample = try Downsample(context, naming.encoderDownsample(level: i), channels: blockIn)
            }
            levels.append(level)
        }
        self.levels = levels
        mid = try MiddleBlocks(context, naming, network: "encoder", channels: blockIn)
        normOut = try context.norm("encoder.norm_out", channels: blockIn)
        convOut = try Conv2dLayer(w, "encoder.conv_out", in: blockIn, out: config.zChannels, kernel: 3)
    }

    /// x: the image on entry, z on return.
    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        convIn.forward(&ws.a, x, columns: &ws.columns)
        swap(&x, &ws.a)
        for level in levels {
            for (j, block) in level.blocks.enumerated() {
                block.forward(&x, &ws)
                if !level.attentions.isEmpty { level.attentions[j].forward(&x, &ws) }
            }
            level.resample?.forward(&x, &ws)
        }
        mid.forward(&x, &ws)
        normOut.forwardSwish(&ws.a, x)
        convOut.forward(&x, ws.a, columns: &ws.columns)
    }
}
