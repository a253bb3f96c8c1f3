import Checkpoint
import Tensor
import Testing
@testable import Tokenizer

@Suite struct WeightValidationTests {
    @Test func missingTensorIsNamed() throws {
        let (_, weights) = try synthesizedTokenizer(tinyConfig())
        var broken = weights
        broken["decoder.up.1.block.1.conv1.weight"] = nil
        #expect(throws: CheckpointError.missingTensor("decoder.up.1.block.1.conv1.weight")) {
            try VQTokenizer(config: tinyConfig(), weights: broken)
        }
    }

    @Test func misshapenTensorIsNamed() throws {
        let (_, weights) = try synthesizedTokenizer(tinyConfig())
        var broken = weights
        broken["quantize.embedding.weight"] = Tensor(zeros: [40, 4])
        #expect(throws: CheckpointError.shapeMismatch("quantize.embedding.weight", expected: [40, 3], actual: [40, 4])) {
            try VQTokenizer(config: tinyConfig(), weights: broken)
        }
    }

    @Test func nonFiniteTensorIsNamed() throws {
        let (_, weights) = try synthesizedTokenizer(tinyConfig())
        var broken = weights
        var bias = weights["encoder.mid.attn_1.q.bias"]!
        bias.storage[1] = .nan
        broken["encoder.mid.attn_1.q.bias"] = bias
        #expect(throws: CheckpointError.nonFinite("encoder.mid.attn_1.q.bias")) {
            try VQTokenizer(config: tinyConfig(), weights: broken)
        }
    }

    @Test func projectedCodebookNeedsFrozenDim() throws {
        var config = tinyConfig(kind: .projectedL2)
        config.quantizer.frozenCodebookDim = nil
        #expect(throws: TokenizerError.self) { try synthesizedTokenizer(config) }
    }

    @Test func groupsMustDivideChannels() {
        var config = tinyConfig()
        config.encoderDecoder.normGroups = 3
        #expect(throws: TokenizerError.self) { try synthesizedTokenizer(config) }
    }
}
