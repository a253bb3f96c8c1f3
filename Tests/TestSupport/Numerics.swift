// What the numeric test targets share: tolerance checks that name the worst element, and
// seeded pseudo-random values so that a failure reproduces.
import Tensor
import Testing

/// Fails the test when any element differs by more than `tolerance`, naming the worst index,
/// both values and the difference.
public func assertClose(_ label: String, _ got: [Float], _ want: [Float], tolerance: Float,
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

public func assertClose(_ label: String, _ got: Tensor, _ want: Tensor, tolerance: Float,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.shape == want.shape, "\(label): shape", sourceLocation: sourceLocation)
    assertClose(label, got.storage, want.storage, tolerance: tolerance, sourceLocation: sourceLocation)
}

/// max |a − b| over the elements of two tensors of one shape.
public func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.storage, b.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// SplitMix64: a small deterministic generator of 64-bit values.
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Deterministic pseudo-random values in [-1, 1) (SplitMix64's top 24 bits).
public struct SeededValues {
    private var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    public mutating func next() -> Float { Float(generator.next() >> 40) / Float(1 << 23) - 1 }
    public mutating func values(_ count: Int) -> [Float] { (0..<count).map { _ in next() } }
    public mutating func tensor(_ shape: [Int]) -> Tensor { Tensor(shape: shape, storage: values(shape.reduce(1, *))) }
}
