import Checkpoint
import Testing
@testable import Tokenizer

/// The tensors the builders declare for the released f16 architectures (at a quarter of the
/// width, which changes shapes but no names) against the upstream state-dict key lists
/// (shared/reference/keys/*.txt, generated from the upstream constructors).
@Suite struct UpstreamKeyNameTests {
    static func f16(_ family: ModelConfig.Family, _ kind: QuantizerConfig.Kind) -> ModelConfig {
        ModelConfig(
            name: "f16", family: family,
            encoderDecoder: EncoderDecoderConfig(ch: 32, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnResolutions: [16],
                                                 resolution: 256, zChannels: 32,
                                                 attentionPlacement: family == .llamagen ? .lowestLevel : .resolution),
            quantizer: QuantizerConfig(kind: kind, codebookSize: 16, embedDim: 8,
                                       frozenCodebookDim: kind == .projectedL2 ? 768 : nil),
            preprocessing: PreprocessingConfig(resolution: 256))
    }

    static func declaredNames(_ config: ModelConfig) throws -> [String] {
        let recorder = WeightRecorder(zeros: true)
        _ = try VQTokenizer(config: config, weights: Weights(tensors: TensorSet(), synthesize: recorder.make))
        return recorder.names
    }

    /// The names that fix the structure: shortcuts, resampling and attention placement.
    static func structural(_ names: [String]) -> Set<String> {
        Set(names.filter { $0.hasSuffix("nin_shortcut.weight") || $0.hasSuffix("sample.conv.weight") || $0.hasSuffix("attn.0.q.weight") })
    }

    @Test func tamingF16() throws {
        let names = try Self.declaredNames(Self.f16(.taming, .l2))
        #expect(names.count == 343)  // keys_taming_f16_16384.txt: 343 tensors
        #expect(Set(names).count == names.count)
        #expect(Self.structural(names) == [
            "encoder.down.0.downsample.conv.weight", "encoder.down.1.downsample.conv.weight",
            "encoder.down.2.downsample.conv.weight", "encoder.down.3.downsample.conv.weight",
            "encoder.down.2.block.0.nin_shortcut.weight", "encoder.down.4.block.0.nin_shortcut.weight",
            "encoder.down.4.attn.0.q.weight",
            "decoder.up.1.block.0.nin_shortcut.weight", "decoder.up.3.block.0.nin_shortcut.weight",
            "decoder.up.1.upsample.conv.weight", "decoder.up.2.upsample.conv.weight",
            "decoder.up.3.upsample.conv.weight", "decoder.up.4.upsample.conv.weight",
            "decoder.up.4.attn.0.q.weight",
        ])
        for name in ["encoder.down.4.attn.1.proj_out.bias", "decoder.up.4.attn.2.v.weight", "decoder.up.0.block.2.conv2.bias",
                     "encoder.mid.attn_1.k.weight", "decoder.mid.block_2.norm2.bias", "encoder.conv_out.weight",
                     "decoder.norm_out.weight", "quant_conv.weight", "post_quant_conv.bias", "quantize.embedding.weight"] {
            #expect(names.contains(name), "\(name)")
        }
    }

    @Test func vqganLCF16() throws {
        let names = try Self.declaredNames(Self.f16(.vqganLC, .projectedL2))
        #expect(names.count == 345)  // keys_vqganlc_f16_dim8.txt: 345 tensors
        for name in ["tok_embeddings.weight", "codebook_projection.weight", "codebook_projection.bias",
                     "quant_conv.bias", "post_quant_conv.weight", "decoder.up.4.attn.2.q.weight"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("quantize.embedding.weight"))
    }

    @Test func llamaGenVQ16() throws {
        let names = try Self.declaredNames(Self.f16(.llamagen, .cosine))
        // keys_llamagen_vq16.txt: 344 tensors, one of them the training statistic quantize.codebook_used.
        #expect(names.count == 343)
        #expect(Self.structural(names) == [
            "encoder.conv_blocks.0.downsample.conv.weight", "encoder.conv_blocks.1.downsample.conv.weight",
            "encoder.conv_blocks.2.downsample.conv.weight", "encoder.conv_blocks.3.downsample.conv.weight",
            "encoder.conv_blocks.2.res.0.nin_shortcut.weight", "encoder.conv_blocks.4.res.0.nin_shortcut.weight",
            "encoder.conv_blocks.4.attn.0.q.weight",
            "decoder.conv_blocks.0.attn.0.q.weight", "decoder.conv_blocks.0.upsample.conv.weight",
            "decoder.conv_blocks.1.res.0.nin_shortcut.weight", "decoder.conv_blocks.1.upsample.conv.weight",
            "decoder.conv_blocks.2.upsample.conv.weight",
            "decoder.conv_blocks.3.res.0.nin_shortcut.weight", "decoder.conv_blocks.3.upsample.conv.weight",
        ])
        for name in ["encoder.mid.0.conv1.weight", "encoder.mid.1.proj_out.weight", "decoder.mid.2.norm2.bias",
                     "decoder.conv_blocks.4.res.2.conv2.weight", "quantize.embedding.weight"] {
            #expect(names.contains(name), "\(name)")
        }
    }
}
