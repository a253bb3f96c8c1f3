import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// The example config of Models/README.md.
let exampleConfig = """
{"schema_version": 1, "name": "tiny-vqganlc-f16", "family": "vqgan_lc",
 "encoder_decoder": {"ch": 32, "ch_mult": [1,1,2,2,4], "num_res_blocks": 2, "attn_resolutions": [16], "resolution": 256, "z_channels": 64, "in_channels": 3, "out_channels": 3, "attention_placement": "resolution", "norm_groups": 32, "norm_eps": 1e-6},
 "quantizer": {"kind": "projected_l2", "codebook_size": 4096, "embed_dim": 8, "frozen_codebook_dim": 64},
 "preprocessing": {"resolution": 256, "interpolation": "bilinear"}}
"""

func decodeConfig(_ text: String) throws(CheckpointError) -> ModelConfig {
    try ModelConfig.decode(Array(text.utf8))
}

/// `config` with one substring replaced (which must occur).
func edited(_ config: String, replacing old: String, with new: String) -> String {
    precondition(config.contains(old), old)
    return config.replacingOccurrences(of: old, with: new)
}

func exampleConfig(replacing old: String, with new: String) -> String {
    edited(exampleConfig, replacing: old, with: new)
}

@Suite struct ModelConfigValidation {
    @Test func readmeExampleDecodes() throws {
        let config = try decodeConfig(exampleConfig)
        #expect(config.family == .vqganLC)
        #expect(config.encoderDecoder.chMult == [1, 1, 2, 2, 4])
        #expect(config.encoderDecoder.downsampleFactor == 16)
        #expect(config.encoderDecoder.normEps == 1e-6)
        #expect(config.quantizer.kind == .projectedL2 && config.quantizer.frozenCodebookDim == 64)
        #expect(config.preprocessing.interpolation == .bilinear)
        // Encoding and decoding again gives the same config.
        let again = try decodeConfig(String(decoding: try JSONEncoder().encode(config), as: UTF8.self))
        #expect(again == config)
    }

    @Test func modelsReadmeExampleIsValid() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models/README.md")
        var text = try String(contentsOf: readme, encoding: .utf8)[...]
        var documented: [ModelConfig] = []
        while let start = text.range(of: "```json\n") {
            let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
            documented.append(try decodeConfig(String(text[start.upperBound..<end.lowerBound])))
            text = text[end.upperBound...]
        }
        #expect(documented == [try decodeConfig(exampleConfig), try decodeConfig(gsqConfig)])
    }

    @Test func otherSchemaVersionIsRejectedByNumber() {
        expectCheckpointError("schema_version 2 is not supported", "reads schema_version 1") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""schema_version": 1"#, with: #""schema_version": 2"#))
        }
        expectCheckpointError("schema_version is missing") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""schema_version": 1,"#, with: ""))
        }
        expectCheckpointError("schema_version \"1\" is not supported") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""schema_version": 1"#, with: #""schema_version": "1""#))
        }
    }

    @Test func badJSONIsRejected() {
        expectCheckpointError("not valid JSON") { () throws(CheckpointError) in
            _ = try decodeConfig(String(exampleConfig.dropLast(2)))
        }
        expectCheckpointError("not valid JSON", "duplicate key \"ch\"") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""ch": 32,"#, with: #""ch": 32, "ch": 64,"#))
        }
    }

    @Test func fieldErrorsNameTheField() {
        expectCheckpointError("unknown field encoder_decoder.norm_group") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""norm_groups""#, with: #""norm_group""#))
        }
        expectCheckpointError("missing field quantizer.embed_dim") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""embed_dim": 8, "#, with: ""))
        }
        expectCheckpointError("encoder_decoder.ch_mult") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: "[1,1,2,2,4]", with: #""1,1,2,2,4""#))
        }
        expectCheckpointError("family") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""vqgan_lc""#, with: #""vqgan-lc""#))
        }
    }

    /// LlamaGen's ADM crop ends in a bicubic resize to the resolution: nothing else to configure.
    @Test func admCenterCropIsBicubicToTheResolution() throws {
        let adm = exampleConfig(replacing: #""interpolation": "bilinear""#, with: #""interpolation": "bicubic", "center_crop": "adm""#)
        #expect(try decodeConfig(adm).preprocessing.centerCrop == .adm)
        expectCheckpointError("center_crop adm resizes with bicubic to the resolution") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""interpolation": "bilinear""#,
                                               with: #""interpolation": "bilinear", "center_crop": "adm""#))
        }
        expectCheckpointError("preprocessing.center_crop") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""interpolation": "bilinear""#,
                                               with: #""interpolation": "bicubic", "center_crop": "box""#))
        }
    }

    @Test func crossFieldRules() {
        expectCheckpointError("projected_l2 needs quantizer.frozen_codebook_dim") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #", "frozen_codebook_dim": 64"#, with: ""))
        }
        expectCheckpointError("not a multiple of norm_groups 32") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""ch": 32"#, with: #""ch": 48"#))
        }
        expectCheckpointError("resolution 250 is not divisible by the downsampling factor 16") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""resolution": 256, "z_channels""#, with: #""resolution": 250, "z_channels""#))
        }
        expectCheckpointError("preprocessing.resolution 100") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""resolution": 256, "interpolation""#, with: #""resolution": 100, "interpolation""#))
        }
        expectCheckpointError("attn_resolutions value 17 matches no level") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: "[16]", with: "[17]"))
        }
        expectCheckpointError("family vqgan_lc needs quantizer.kind projected_l2") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: #""projected_l2", "codebook_size": 4096, "embed_dim": 8, "frozen_codebook_dim": 64"#,
                                               with: #""l2", "codebook_size": 4096, "embed_dim": 8"#))
        }
        expectCheckpointError("ch_mult must have 1 to 8 levels") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: "[1,1,2,2,4]", with: "[]"))
        }
        expectCheckpointError("norm_eps must be a positive number") { () throws(CheckpointError) in
            _ = try decodeConfig(exampleConfig(replacing: "1e-6", with: "0"))
        }
    }
}

@Suite struct ModelDirectoryLoading {
    let weights = TensorSet(["quant_conv.bias": Tensor(shape: [2], storage: [1, 2])])

    @Test func loadsConfigAndSafetensors() throws {
        try withTemporaryDirectory { dir in
            try Data(exampleConfig.utf8).write(to: dir.appendingPathComponent("config.json"))
            try SafeTensors.write(weights, dtype: .f16, to: dir.appendingPathComponent("model.safetensors"))
            let model = try ModelDirectory.load(dir)
            #expect(model.config.name == "tiny-vqganlc-f16")
            #expect(model.weights["quant_conv.bias"]?.storage == [1, 2])
            #expect(model.weightsFile.lastPathComponent == "model.safetensors")
        }
    }

    @Test func badSchemaVersionNamesTheFile() throws {
        try withTemporaryDirectory { dir in
            let text = exampleConfig(replacing: #""schema_version": 1"#, with: #""schema_version": 7"#)
            try Data(text.utf8).write(to: dir.appendingPathComponent("config.json"))
            try SafeTensors.write(weights, to: dir.appendingPathComponent("model.safetensors"))
            expectCheckpointError("config.json", "schema_version 7") { () throws(CheckpointError) in
                _ = try ModelDirectory.load(dir)
            }
        }
    }

    @Test func missingPiecesAreNamed() throws {
        try withTemporaryDirectory { dir in
            expectCheckpointError("has no config.json") { () throws(CheckpointError) in _ = try ModelDirectory.load(dir) }
            try Data(exampleConfig.utf8).write(to: dir.appendingPathComponent("config.json"))
            expectCheckpointError("no model.safetensors and no .pth/.pt/.ckpt") { () throws(CheckpointError) in
                _ = try ModelDirectory.load(dir)
            }
            try Data().write(to: dir.appendingPathComponent("a.pth"))
            try Data().write(to: dir.appendingPathComponent("b.ckpt"))
            expectCheckpointError("several checkpoints", "a.pth, b.ckpt") { () throws(CheckpointError) in
                _ = try ModelDirectory.load(dir)
            }
            expectCheckpointError("is not a model directory") { () throws(CheckpointError) in
                _ = try ModelDirectory.load(dir.appendingPathComponent("config.json"))
            }
        }
    }

    @Test func corruptWeightsFailTheLoad() throws {
        try withTemporaryDirectory { dir in
            try Data(exampleConfig.utf8).write(to: dir.appendingPathComponent("config.json"))
            var bytes = try SafeTensors.serialize(weights)
            bytes.removeLast()
            try Data(bytes).write(to: dir.appendingPathComponent("model.safetensors"))
            expectCheckpointError("quant_conv.bias") { () throws(CheckpointError) in _ = try ModelDirectory.load(dir) }
        }
    }
}
