import Checkpoint
import Tensor
import Testing
import TestSupport
@testable import Tokenizer

/// Collects the weights an architecture declares, in declaration order, making each one up:
/// random at a scale that keeps activations tame, or zeros when only the names matter.
final class WeightRecorder {
    private(set) var names: [String] = []
    private(set) var tensors = TensorSet()
    private var values: SeededValues
    private let zeros: Bool

    init(seed: UInt64 = 1, zeros: Bool = false) {
        values = SeededValues(seed: seed)
        self.zeros = zeros
    }

    func make(_ name: String, _ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        var tensor = Tensor(zeros: shape)
        if !zeros {
            // Convs: uniform with variance ~1/fan_in; norm scales near 1; small biases.
            let fanIn = shape.count == 4 ? shape[1] * shape[2] * shape[3] : 1
            let scale: Float = shape.count == 4 ? (3 / Float(fanIn)).squareRoot() : 1
            let isNormScale = name.hasSuffix(".weight") && shape.count == 1
            let isBias = name.hasSuffix(".bias")
            tensor.storage = (0..<count).map { _ in
                let u = values.next()
                return isNormScale ? 1 + 0.2 * u : isBias ? 0.1 * u : scale * u
            }
        }
        names.append(name)
        tensors[name] = tensor
        return tensor
    }
}

/// Builds a tokenizer of `config` from made-up weights; returns it with the weights it declared.
func synthesizedTokenizer(_ config: ModelConfig, seed: UInt64 = 1) throws -> (VQTokenizer, TensorSet) {
    let recorder = WeightRecorder(seed: seed)
    let tokenizer = try VQTokenizer(config: config, weights: Weights(tensors: TensorSet(), synthesize: recorder.make))
    return (tokenizer, recorder.tensors)
}

/// A tiny taming-style model: 3 levels (f = 4), one ResnetBlock per level, channel changes
/// (nin_shortcut), attention at the lowest level (4×4 at resolution 16) and in the middle.
func tinyConfig(family: ModelConfig.Family = .taming, kind: QuantizerConfig.Kind = .l2,
                placement: EncoderDecoderConfig.AttentionPlacement = .resolution) -> ModelConfig {
    ModelConfig(
        name: "tiny-\(family.rawValue)-\(kind.rawValue)", family: family,
        encoderDecoder: EncoderDecoderConfig(ch: 8, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [4],
                                             resolution: 16, zChannels: 4, attentionPlacement: placement,
                                             normGroups: 4, normEps: 1e-6),
        quantizer: QuantizerConfig(kind: kind, codebookSize: 40, embedDim: 3,
                                   frozenCodebookDim: kind == .projectedL2 ? 6 : nil),
        preprocessing: PreprocessingConfig(resolution: 16))
}
