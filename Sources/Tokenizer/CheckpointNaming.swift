/// Where each block of the taming-style encoder/decoder lives in a checkpoint. Levels are
/// always numbered by resolution (0 = full resolution), as taming numbers them.
protocol CheckpointNaming: Sendable {
    func encoderBlock(level: Int, index: Int) -> String
    func encoderAttn(level: Int, index: Int) -> String
    func encoderDownsample(level: Int) -> String
    func decoderBlock(level: Int, index: Int) -> String
    func decoderAttn(level: Int, index: Int) -> String
    func decoderUpsample(level: Int) -> String
    /// `part` 0, 1, 2 = first ResnetBlock, AttnBlock, second ResnetBlock of the middle.
    func mid(_ network: String, part: Int) -> String
}

/// taming-transformers and VQGAN-LC (`taming/modules/diffusionmodules/model.py`):
/// `encoder.down.{i}.block.{j}`, `decoder.up.{i}.block.{j}`, `mid.block_1 / attn_1 / block_2`.
struct TamingNaming: CheckpointNaming {
    func encoderBlock(level: Int, index: Int) -> String { "encoder.down.\(level).block.\(index)" }
    func encoderAttn(level: Int, index: Int) -> String { "encoder.down.\(level).attn.\(index)" }
    func encoderDownsample(level: Int) -> String { "encoder.down.\(level).downsample" }
    func decoderBlock(level: Int, index: Int) -> String { "decoder.up.\(level).block.\(index)" }
    func decoderAttn(level: Int, index: Int) -> String { "decoder.up.\(level).attn.\(index)" }
    func decoderUpsample(level: Int) -> String { "decoder.up.\(level).upsample" }
    func mid(_ network: String, part: Int) -> String {
        "\(network).mid." + ["block_1", "attn_1", "block_2"][part]
    }
}

/// LlamaGen VQ (`tokenizer/tokenizer_image/vq_model.py`): `encoder.conv_blocks.{i}.res.{j}`;
/// the decoder's `conv_blocks.{k}` runs lowest resolution first, so level i is `conv_blocks.{L-1-i}`;
/// the middle is `mid.0 / 1 / 2`.
struct LlamaGenNaming: CheckpointNaming {
    let levels: Int

    func encoderBlock(level: Int, index: Int) -> String { "encoder.conv_blocks.\(level).res.\(index)" }
    func encoderAttn(level: Int, index: Int) -> String { "encoder.conv_blocks.\(level).attn.\(index)" }
    func encoderDownsample(level: Int) -> String { "encoder.conv_blocks.\(level).downsample" }
    func decoderBlock(level: Int, index: Int) -> String { "decoder.conv_blocks.\(levels - 1 - level).res.\(index)" }
    func decoderAttn(level: Int, index: Int) -> String { "decoder.conv_blocks.\(levels - 1 - level).attn.\(index)" }
    func decoderUpsample(level: Int) -> String { "decoder.conv_blocks.\(levels - 1 - level).upsample" }
    func mid(_ network: String, part: Int) -> String { "\(network).mid.\(part)" }
}
