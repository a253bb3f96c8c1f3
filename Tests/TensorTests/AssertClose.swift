import Tensor
import Testing

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
    mutating func tensor(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, storage: (0..<n).map { _ in next() })
    }
}
