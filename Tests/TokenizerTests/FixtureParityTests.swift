import Checkpoint
import Foundation
import Tensor
import Testing
@testable import Tokenizer
import TestSupport

/// Parity with the PyTorch reference (Scripts/reference, Scripts/fixtures/make_fixtures.py) on
/// the committed tiny models and four photos (Tests/Fixtures/models/<name>/expected.safetensors).
@Suite struct FixtureParityTests {
    static let modelsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("models")

    /// Named, not discovered: a missing fixture fails instead of silently testing nothing.
    static let models = ["tiny-taming-f16", "tiny-vqganlc-f16", "tiny-llamagen-f16", "tiny-gsq-f8", "tiny-gsq-f8-plain"]

    /// Fixtures made from fewer than the four photos (to keep the repository small).
    static let photos = ["tiny-gsq-f8-plain": 2]

    /// Reference best-vs-second-best relative gap below which either id is right.
    static let nearTie: Float = 1e-5

    struct Expected {
        let inputs, latents, gaps, reconstruction: Tensor
        let ids: TokenGrid

        /// The shapes follow `config`: photos at its resolution (the first `photos` of
        /// Tests/Fixtures/photos), a grid of resolution / f per side with the quantizer's ids
        /// per position.
        init(_ url: URL, config: ModelConfig, photos batch: Int) throws {
            let set = try SafeTensors.load(contentsOf: url)
            let (side, e) = (config.preprocessing.resolution, config.quantizer.embedDim)
            let (grid, groups) = (side / config.encoderDecoder.downsampleFactor, config.quantizer.idsPerPosition)
            // The reference gives GSQ's ids a group axis even with one group.
            let idsShape = [batch, grid, grid] + (config.family == .gsq ? [groups] : [])
            inputs = try set.require("inputs", shape: [batch, 3, side, side])
            latents = try set.require("latents", shape: [batch, e, grid, grid])
            gaps = try set.require("gaps", shape: idsShape)
            reconstruction = try set.require("reconstruction", shape: [batch, 3, side, side])
            let ids = try set.requireIntegers("ids", shape: idsShape)
            self.ids = TokenGrid(batch: batch, height: grid, width: grid, groups: groups, ids: ids.values.map { Int32($0) })
        }
    }

    /// Positions where `got` differs from the reference ids, split by whether the reference
    /// called them a near tie (gap below `tieGap`).
    static func idMismatches(_ got: TokenGrid, _ expected: Expected, tieGap: Float) -> (ties: Int, real: [String]) {
        var ties = 0
        var real: [String] = []
        for i in got.ids.indices where got.ids[i] != expected.ids.ids[i] {
            if expected.gaps.storage[i] < tieGap {
                ties += 1
            } else {
                real.append("token \(i): got \(got.ids[i]), want \(expected.ids.ids[i]) (gap \(expected.gaps.storage[i]))")
            }
        }
        return (ties, real)
    }

    @Test(arguments: models)
    func matchesReference(model: String) throws {
        let directory = Self.modelsDirectory.appendingPathComponent(model)
        let loaded = try ModelDirectory.load(directory)
        let tokenizer = try VQTokenizer(config: loaded.config, weights: loaded.weights)
        let expected = try Expected(directory.appendingPathComponent("expected.safetensors"), config: loaded.config,
                                    photos: Self.photos[model] ?? 4)
        let tokens = expected.ids.ids.count

        // Decoder: the reference ids decode to the reference image.
        let reconstruction = try tokenizer.decode(expected.ids)
        assertClose("\(model) reconstruction", reconstruction, expected.reconstruction, tolerance: 1e-3)

        // Encoder: the network input gives the reference latents.
        let latents = tokenizer.encodeLatents(expected.inputs)
        assertClose("\(model) latents", latents, expected.latents, tolerance: 5e-4)

        // Quantizer alone, on the reference latents: the same ids except at near ties.
        let quantized = Self.idMismatches(tokenizer.quantize(expected.latents), expected, tieGap: Self.nearTie)
        #expect(quantized.real.isEmpty, "\(model) quantizer: \(quantized.real.prefix(5))")
        #expect(quantized.ties * 100 <= tokens, "\(model) quantizer: \(quantized.ties) near-tie mismatches of \(tokens)")

        // End to end: our latents carry float rounding of their own (≤ 5e-4 above), so ids may
        // also flip where the reference's gap is within that rounding; those must stay rare.
        let encoded = Self.idMismatches(tokenizer.quantize(latents), expected, tieGap: 1e-3)
        #expect(encoded.real.isEmpty, "\(model) encode: \(encoded.real.prefix(5))")
        #expect(encoded.ties * 100 <= tokens, "\(model) encode: \(encoded.ties) near-tie mismatches of \(tokens)")
        print("\(model): max |Δ| reconstruction \(maxAbsDifference(reconstruction, expected.reconstruction)),"
              + " latents \(maxAbsDifference(latents, expected.latents)); id flips at near ties: quantizer"
              + " \(quantized.ties), end to end \(encoded.ties) of \(tokens)")
    }
}
