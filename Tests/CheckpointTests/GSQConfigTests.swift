import Foundation
import Testing
@testable import Checkpoint

/// A GSQ config in the shape of Models/README.md's gsq example (flex_gen's F8 layout, small).
let gsqConfig = """
{"schema_version": 1, "name": "tiny-gsq-f8", "family": "gsq",
 "encoder_decoder": {"ch": 32, "ch_mult": [1,2,2,4], "encoder_blocks": [1,1,1,1,2], "decoder_blocks": [1,1,1,1,2], "attn_resolutions": [8], "attention_placement": "downsample_factor", "mid_attention": true, "adaptive_norm": true, "depth_to_space": true, "resolution": 256, "z_channels": 16, "in_channels": 3, "out_channels": 3, "norm_groups": 32, "norm_eps": 1e-5},
 "quantizer": {"kind": "grouped_spherical", "codebook_size": 4096, "embed_dim": 16, "groups": 4},
 "preprocessing": {"resolution": 256, "interpolation": "bilinear"}}
"""

func gsqConfig(replacing old: String, with new: String) -> String {
    edited(gsqConfig, replacing: old, with: new)
}

@Suite struct GSQConfigValidation {
    @Test func gsqConfigDecodesAndRoundTrips() throws {
        let config = try decodeConfig(gsqConfig)
        #expect(config.family == .gsq)
        #expect(config.encoderDecoder.numResBlocks == nil)
        #expect(config.encoderDecoder.encoderBlocks == [1, 1, 1, 1, 2])
        #expect(config.encoderDecoder.attentionPlacement == .downsampleFactor)
        #expect(config.encoderDecoder.attnResolutions == [8])
        #expect(config.encoderDecoder.downsampleFactor == 8)
        #expect(config.quantizer.kind == .groupedSpherical && config.quantizer.idsPerPosition == 4)
        let again = try decodeConfig(String(decoding: try JSONEncoder().encode(config), as: UTF8.self))
        #expect(again == config)
        // The other families' configs do not grow the new fields when written.
        let taming = String(decoding: try JSONEncoder().encode(try decodeConfig(exampleConfig)), as: UTF8.self)
        #expect(!taming.contains("\"groups\"") && !taming.contains("encoder_blocks"))
    }

    @Test func eachFamilyNamesItsOwnBlockCounts() {
        expectCheckpointError("family gsq counts its blocks in encoder_decoder.encoder_blocks") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""ch": 32,"#, with: #""ch": 32, "num_res_blocks": 2,"#))
        }
        expectCheckpointError("family gsq needs encoder_decoder.decoder_blocks") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #" "decoder_blocks": [1,1,1,1,2],"#, with: ""))
        }
        expectCheckpointError("encoder_blocks needs 5 counts (one per level, then the middle), got 4") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""encoder_blocks": [1,1,1,1,2]"#, with: #""encoder_blocks": [1,1,1,2]"#))
        }
        expectCheckpointError("encoder_decoder.adaptive_norm is only meaningful for family gsq") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""norm_eps": 1e-6"#, with: #""norm_eps": 1e-6, "adaptive_norm": true"#))
        }
        expectCheckpointError("missing field encoder_decoder.num_res_blocks") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #" "num_res_blocks": 2,"#, with: ""))
        }
        expectCheckpointError("family gsq places attention by encoder_decoder.attention_placement downsample_factor") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""downsample_factor""#, with: #""resolution""#))
        }
        expectCheckpointError("attn_resolutions value 16 matches no level (level downsampling factors: [1, 2, 4, 8])") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""attn_resolutions": [8]"#, with: #""attn_resolutions": [16]"#))
        }
    }

    /// timm's evaluation resize: the shortest side to ⌊256 / 0.875⌋ = 292, then the 256 crop.
    @Test func shortestSideIsAtLeastTheResolution() throws {
        let config = try decodeConfig(gsqConfig(replacing: #""interpolation": "bilinear""#,
                                                with: #""interpolation": "bilinear", "shortest_side": 292"#))
        #expect(config.preprocessing.resizedSide == 292)
        #expect(try decodeConfig(gsqConfig).preprocessing.resizedSide == 256)
        expectCheckpointError("preprocessing.shortest_side 200 must be from resolution 256 to 16 times it") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""interpolation": "bilinear""#,
                                           with: #""interpolation": "bilinear", "shortest_side": 200"#))
        }
    }

    @Test func theGroupedQuantizerBelongsToGSQAndSplitsTheLatentEvenly() {
        expectCheckpointError("quantizer.groups, a positive divisor of embed_dim 16") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""groups": 4"#, with: #""groups": 3"#))
        }
        expectCheckpointError("z_channels (16) must equal quantizer.embed_dim (32)") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""embed_dim": 16"#, with: #""embed_dim": 32"#))
        }
        expectCheckpointError("family gsq needs quantizer.kind grouped_spherical") { () throws(CheckpointError) in
            _ = try decodeConfig(gsqConfig(replacing: #""grouped_spherical", "codebook_size": 4096, "embed_dim": 16, "groups": 4"#,
                                           with: #""cosine", "codebook_size": 4096, "embed_dim": 16"#))
        }
        expectCheckpointError("quantizer.groups is only meaningful for kind grouped_spherical") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""frozen_codebook_dim": 64"#, with: #""frozen_codebook_dim": 64, "groups": 2"#))
        }
    }
}
