import Checkpoint
import Imaging
import Tensor
import TestSupport
@testable import Server
@testable import Tokenizer

/// Small models with made-up weights (deterministic), for service tests that need a real
/// tokenizer but not a trained one.
enum TinyModels {
    /// A taming-style model: f = 4, resolution 16, 3 levels.
    static func config(name: String = "tiny", codebookSize: Int = 40, resolution: Int = 16) -> ModelConfig {
        ModelConfig(
            name: name, family: .taming,
            encoderDecoder: EncoderDecoderConfig(ch: 8, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [4],
                                                 resolution: resolution, zChannels: 4, attentionPlacement: .resolution,
                                                 normGroups: 4, normEps: 1e-6),
            quantizer: QuantizerConfig(kind: .l2, codebookSize: codebookSize, embedDim: 3),
            preprocessing: PreprocessingConfig(resolution: resolution))
    }

    /// A GSQ model: f = 4, resolution 16, 3 levels, 3 ids per position (groups of 2 channels).
    static func groupedConfig(name: String = "tiny", codebookSize: Int = 40) -> ModelConfig {
        ModelConfig(
            name: name, family: .gsq,
            encoderDecoder: EncoderDecoderConfig(ch: 8, chMult: [1, 2, 2], numResBlocks: nil, attnResolutions: [4],
                                                 resolution: 16, zChannels: 6, attentionPlacement: .downsampleFactor,
                                                 normGroups: 4, normEps: 1e-5, encoderBlocks: [1, 1, 1, 1],
                                                 decoderBlocks: [1, 1, 1, 1], adaptiveNorm: true, depthToSpace: true),
            quantizer: QuantizerConfig(kind: .groupedSpherical, codebookSize: codebookSize, embedDim: 6, groups: 3),
            preprocessing: PreprocessingConfig(resolution: 16))
    }

    static func tokenizer(_ config: ModelConfig, seed: UInt64 = 7) throws -> VQTokenizer {
        var values = SeededValues(seed: seed)
        let weights = Weights(tensors: TensorSet()) { name, shape in
            let fanIn = shape.count == 4 ? shape[1] * shape[2] * shape[3] : 1
            let scale: Float = shape.count == 4 ? (3 / Float(fanIn)).squareRoot() : 1
            let isNormScale = name.hasSuffix(".weight") && shape.count == 1
            let isBias = name.hasSuffix(".bias")
            let count = shape.reduce(1, *)
            return Tensor(shape: shape, storage: (0..<count).map { _ in
                let u = values.next()
                return isNormScale ? 1 + 0.2 * u : isBias ? 0.1 * u : scale * u
            })
        }
        return try VQTokenizer(config: config, weights: weights)
    }

    static func model(name: String = "tiny", codebookSize: Int = 40) throws -> LoadedModel {
        LoadedModel(name: name, engine: try tokenizer(config(name: name, codebookSize: codebookSize)))
    }
}

/// Test images: a smooth pattern that differs per seed, as PNG or JPEG bytes.
enum TestImages {
    static func rgb(width: Int, height: Int, seed: Int = 0) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8((x * 255 / max(1, width - 1) + seed * 40) % 256)
                pixels[i + 1] = UInt8((y * 255 / max(1, height - 1) + seed * 90) % 256)
                pixels[i + 2] = UInt8(((x + y) * 7 + seed * 13) % 256)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    static func png(width: Int = 20, height: Int = 24, seed: Int = 0) throws -> [UInt8] {
        try ImageCodec.encodePNG(rgb(width: width, height: height, seed: seed))
    }

    static func jpeg(width: Int = 20, height: Int = 24, seed: Int = 0) throws -> [UInt8] {
        try ImageCodec.encodeJPEG(rgb(width: width, height: height, seed: seed), quality: 95)
    }

    /// A multipart/form-data body with `files` as parts named image0, image1, ...
    static func form(_ files: [(type: String, bytes: [UInt8])], boundary: String = "test-boundary-1234") -> [UInt8] {
        var out: [UInt8] = []
        for (n, file) in files.enumerated() {
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\(n)\"; filename=\"\(n)\"\r\nContent-Type: \(file.type)\r\n\r\n".utf8)
            out += file.bytes + Array("\r\n".utf8)
        }
        return out + Array("--\(boundary)--\r\n".utf8)
    }
}
