import Tensor

/// Named tensors loaded from a checkpoint, under the upstream state-dict names.
///
/// Floating-point tensors (f16, bf16, f32, f64 on disk) are widened to f32 in `tensors`;
/// integer and boolean tensors (token-id fixtures, BatchNorm counters) are kept exactly in
/// `integers`. A name is in one or the other, never both.
public struct TensorSet: Sendable {
    public private(set) var tensors: [String: Tensor]
    public private(set) var integers: [String: IntTensor]
    /// safetensors `__metadata__` (empty for other formats).
    public var metadata: [String: String]

    public init(_ tensors: [String: Tensor] = [:], integers: [String: IntTensor] = [:],
                metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.integers = integers
        self.metadata = metadata
    }

    public var names: [String] { tensors.keys.sorted() }

    public subscript(name: String) -> Tensor? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }

    /// The integer tensor `name`, if there is one.
    public func integerTensor(_ name: String) -> IntTensor? { integers[name] }

    public mutating func setInteger(_ name: String, _ tensor: IntTensor?) { integers[name] = tensor }

    /// The integer tensor `name`, checked against the expected shape.
    public func requireIntegers(_ name: String, shape: [Int]) throws(CheckpointError) -> IntTensor {
        guard let tensor = integers[name] else {
            if tensors[name] != nil { throw .unsupported("tensor '\(name)' holds floats, expected integers") }
            throw .missingTensor(name)
        }
        guard tensor.shape == shape else {
            throw .shapeMismatch(name, expected: shape, actual: tensor.shape)
        }
        return tensor
    }

    /// The tensor `name`, checked against the shape the architecture expects.
    public func require(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        guard let tensor = tensors[name] else { throw .missingTensor(name) }
        guard tensor.shape == shape else {
            throw .shapeMismatch(name, expected: shape, actual: tensor.shape)
        }
        return tensor
    }
}

/// An integer (or boolean) tensor, row-major, values widened to Int64.
public struct IntTensor: Sendable, Equatable {
    public let shape: [Int]
    public let values: [Int64]

    public init(shape: [Int], values: [Int64]) {
        precondition(Checked.elementCount(shape) == values.count,
                     "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Why a checkpoint could not be used. Every case names what was wrong.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingTensor(String)
    case shapeMismatch(String, expected: [Int], actual: [Int])
    case nonFinite(String)
    case malformed(String)
    case unsupported(String)
    case io(String)
    /// config.json is unreadable, of another schema version, or inconsistent; names the field.
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .missingTensor(let name): "tensor '\(name)' is missing from the checkpoint"
        case .shapeMismatch(let name, let expected, let actual):
            "tensor '\(name)' has shape \(actual), expected \(expected)"
        case .nonFinite(let name): "tensor '\(name)' holds NaN or infinite values"
        case .malformed(let why): "malformed checkpoint: \(why)"
        case .unsupported(let why): "unsupported checkpoint: \(why)"
        case .io(let why): "cannot read checkpoint: \(why)"
        case .invalidConfig(let why): "invalid model config: \(why)"
        }
    }
}
