import Checkpoint
import Tensor

/// taming `Decoder`: z [B, z_channels, h, w] → image [B, out, h·f, w·f] (not clamped).
///
///     conv_in 3×3 z → ch·ch_mult[L−1]; mid
///     level i = L−1..0 (stored as `up.{i}`, lowest resolution first):
///         (num_res_blocks + 1) × ResnetBlock(→ ch·ch_mult[i]) (+ AttnBlock), Upsample unless i = 0
///     norm_out; swish; conv_out 3×3 → out
struct Decoder: Sendable {
    let convIn: Conv2dLayer
    let mid: MiddleBlocks
    /// Indexed by level; `forward` runs them from the last (lowest resolution) to 0.
    let levels: [Level<Upsample>]
    let normOut: GroupNormLayer
    let convOut: Conv2dLayer

    init(_ config: EncoderDecoderConfig, _ context: BlockContext, _ naming: any CheckpointNaming) throws {
        let w = context.weights
        let levelCount = config.chMult.count
        var blockIn = config.ch * config.chMult[levelCount - 1]
        convIn = try Conv2dLayer(w, "decoder.conv_in", in: config.zChannels, out: blockIn, kernel: 3)
        mid = try MiddleBlocks(context, naming, network: "decoder", channels: blockIn)
        var levels = [Level<Upsample>](repeating: Level(), count: levelCount)
        for i in (0..<levelCount).reversed() {
            let blockOut = config.ch * config.chMult[i]
            for j in 0...(try config.tamingResBlocks()) {
                levels[i].blocks.append(try ResnetBlock(context, naming.decoderBlock(level: i, index: j),
                                                        in: blockIn, out: blockOut))
                blockIn = blockOut
                if config.hasAttention(level: i) {
                    levels[i].attentions.append(try AttnBlock(context, naming.decoderAttn(level: i, index: j),
                                                              channels: blockIn))
                }
            }
            if i != 0 {
                levels[i].resample = try Upsample(context, naming.decoderUpsample(level: i), channels: blockIn)
            }
        }
        self.levels = levels
        normOut = try context.norm("decoder.norm_out", channels: blockIn)
        convOut = try Conv2dLayer(w, "decoder.conv_out", in: blockIn, out: config.outChannels, kernel: 3)
    }

    /// x: z on entry, the image on return.
    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        convIn.forward(&ws.a, x, columns: &ws.columns)
        swap(&x, &ws.a)
        mid.forward(&x, &ws)
        for level in levels.reversed() {
            for (j, block) in level.blocks.enumerated() {
                block.forward(&x, &ws)
                if !level.attentions.isEmpty { level.attentions[j].forward(&x, &ws) }
            }
            level.resample?.forward(&x, &ws)
        }
        normOut.forwardSwish(&ws.a, x)
        convOut.forward(&x, ws.a, columns: &ws.columns)
    }
}
