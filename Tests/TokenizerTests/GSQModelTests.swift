import Checkpoint
import Foundation
import Tensor
import Testing
@testable import Tokenizer
import TestSupport

/// GSQ (flex_gen's flexTokenizer with the grouped spherical quantizer): what the builders
/// declare against upstream's state dict, and the grouped quantizer's contract. Parity with the
/// PyTorch reference is in `FixtureParityTests`.
@Suite struct GSQModelTests {
    /// GSQ-F8-D64-G16-V8k (HelmholtzAI-FZJ on Hugging Face): hidden 128, channel multipliers
    /// 1, 2, 2, 4, two blocks everywhere, adaptive norm, depth-to-space, no attention.
    static let f8 = ModelConfig(
        name: "gsq-f8-d64-g16", family: .gsq,
        encoderDecoder: EncoderDecoderConfig(ch: 128, chMult: [1, 2, 2, 4], numResBlocks: nil, attnResolutions: [],
                                             resolution: 256, zChannels: 64, attentionPlacement: .downsampleFactor,
                                             normEps: 1e-5, encoderBlocks: [2, 2, 2, 2, 2], decoderBlocks: [2, 2, 2, 2, 2],
                                             midAttention: false, adaptiveNorm: true, depthToSpace: true),
        quantizer: QuantizerConfig(kind: .groupedSpherical, codebookSize: 8192, embedDim: 64, groups: 16),
        preprocessing: PreprocessingConfig(resolution: 256))

    /// A small GSQ with every block kind: channel changes, attention at factor 4 and between
    /// the middle blocks, adaptive norms, and either upsampling.
    static func tiny(depthToSpace: Bool, groups: Int = 2) -> ModelConfig {
        ModelConfig(
            name: "tiny-gsq", family: .gsq,
            encoderDecoder: EncoderDecoderConfig(ch: 8, chMult: [1, 2, 2], numResBlocks: nil, attnResolutions: [4],
                                                 resolution: 16, zChannels: 4, attentionPlacement: .downsampleFactor,
                                                 normGroups: 4, normEps: 1e-5, encoderBlocks: [1, 1, 1, 2],
                                                 decoderBlocks: [1, 1, 1, 2], midAttention: true, adaptiveNorm: true,
                                                 depthToSpace: depthToSpace),
            quantizer: QuantizerConfig(kind: .groupedSpherical, codebookSize: 40, embedDim: 4, groups: groups),
            preprocessing: PreprocessingConfig(resolution: 16))
    }

    /// Every name and shape of upstream's state dict (Tests/Fixtures/keys, listed from the
    /// upstream constructors), in upstream's order, and nothing else.
    @Test func f8DeclaresUpstreamNamesAndShapes() throws {
        let list = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/keys/gsq_f8_D64_G16_V8k.txt")
        let upstream = try String(contentsOf: list, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.map(String.init)
        let recorder = WeightRecorder(zeros: true)
        _ = try VQTokenizer(config: Self.f8, weights: Weights(tensors: TensorSet(), synthesize: recorder.make))
        let declared = recorder.names.map { "\($0) \(recorder.tensors[$0]!.shape)" }
        #expect(upstream.count == 241)
        // The codebook is declared after the networks here, as it is last upstream.
        #expect(declared == upstream)
    }

    @Test(arguments: [true, false])
    func encodeGivesGroupsPerPositionAndDecodeTakesThem(depthToSpace: Bool) throws {
        let (tokenizer, _) = try synthesizedTokenizer(Self.tiny(depthToSpace: depthToSpace))
        var values = SeededValues(seed: 3)
        let images = Tensor(shape: [2, 3, 16, 8], storage: values.values(2 * 3 * 16 * 8))
        let grid = tokenizer.encode(images)
        #expect((grid.batch, grid.height, grid.width, grid.groups) == (2, 4, 2, 2))
        #expect(grid.ids.count == 2 * 4 * 2 * 2)
        #expect(Set(grid.ids).count > 1)
        let decoded = try tokenizer.decode(grid)
        #expect(decoded.shape == [2, 3, 16, 8])
        let finite = decoded.storage.allSatisfy { $0.isFinite }
        #expect(finite)
        // One image alone decodes to the same pixels as in the batch.
        let first = TokenGrid(batch: 1, height: 4, width: 2, groups: 2, ids: Array(grid.ids.prefix(16)))
        #expect(try tokenizer.decode(first).storage == Array(decoded.storage.prefix(3 * 16 * 8)))
        #expect(throws: TokenizerError.self) {
            try tokenizer.decode(TokenGrid(batch: 1, height: 4, width: 2, ids: Array(grid.ids.prefix(8))))
        }
        // One position has no unbiased variance for the adaptive norms (upstream would give NaN).
        #expect(throws: TokenizerError.invalidGrid("shape 1×1×1×2: this model's decoder needs at least 2 positions")) {
            try tokenizer.decode(TokenGrid(batch: 1, height: 1, width: 1, groups: 2, ids: [0, 1]))
        }
    }

    /// Each group of a position is normalized and matched on its own, against the normalized
    /// rows, lowest id on ties; decode looks up the raw rows.
    @Test func groupsAreMatchedOnTheSphereAndDecodedFromRawRows() throws {
        let rows: [Float] = [2, 0,   0, 3,   -1, -1,   0.5, 0.5]   // [4, 2]: norms differ from 1
        var config = Self.tiny(depthToSpace: true)
        config.quantizer.codebookSize = 4
        // These rows for the codebook, made-up weights for the rest of the network.
        let tokenizer = try VQTokenizer(config: config, weights: Weights(
            tensors: TensorSet(["quantizers.codebook.weight": Tensor(shape: [4, 2], storage: rows)]),
            synthesize: WeightRecorder().make))
        let codebook = tokenizer.codebook
        #expect((codebook.dim, codebook.groups) == (2, 2))
        #expect(codebook.lookup == rows)
        #expect(codebook.vectors[0...1] == [1, 0] && abs(codebook.vectors[7] - Float(0.5).squareRoot()) < 1e-6)
        // Latent [1, 4, 1, 2]: position 0 = (9, 1 | -4, -5), position 1 = (0, 0.1 | 0.05, 0.3).
        var latents = Tensor(zeros: [1, 4, 1, 2])
        latents.storage = [9, 0, 1, 0.1, -4, 0.05, -5, 0.3]   // channel-major: c0 (p0, p1), c1, c2, c3
        let grid = tokenizer.quantize(latents)
        // p0 g0 (9, 1) → row 0; p0 g1 (-4, -5) → row 2; p1 g0 (0, 0.1) → row 1; p1 g1 (0.05, 0.3)
        // → row 1 by direction, where the raw rows would give row 3 (0.5, 0.5), the nearest point.
        #expect(grid.ids == [0, 2, 1, 1])
        #expect((grid.height, grid.width, grid.groups) == (1, 2, 2))
    }
}
