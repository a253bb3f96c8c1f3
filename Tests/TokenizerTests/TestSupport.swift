import Checkpoint
import Tensor
import Testing
@testable import Tokenizer

/// Fails the test when any element differs by more than `tolerance`, naming the worst index,
/// both values and the difference.
func assertClose(_ label: String, _ got: [Float], _ want: [Float], tolerance: Float,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard got.count == want.count else {
        Issue.record("\(label): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
        return
    }
    var worst = 0
    var worstDiff: Float = 0
    for i in 0..<got.count {
        let diff = abs(got[i] - want[i])
        if diff > worstDiff || diff.isNaN { worst = i; worstDiff = diff.isNaN ? .infinity : diff }
    }
    if worstDiff > tolerance {
        Issue.record("\(label): max abs diff \(worstDiff) at index \(worst): got \(got[worst]), want \(want[worst]) (tolerance \(tolerance))",
                     sourceLocation: sourceLocation)
    }
}

func assertClose(_ label: String, _ got: Tensor, _ want: Tensor, tolerance: Float,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.shape == want.shape, "\(label): shape", sourceLocation: sourceLocation)
    assertClose(label, got.storage, want.storage, tolerance: tolerance, sourceLocation: sourceLocation)
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.storage, b.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Deterministic pseudo-random values in [-1, 1) (SplitMix64), so failures reproduce.
struct SeededValues {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    mutating func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, storage: values(shape.reduce(1, *))) }
}

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
