import Tensor

/// Named tensors loaded from a checkpoint, under the upstream state-dict names.
public struct TensorSet: Sendable {
    public private(set) var tensors: [String: Tensor]

    public init(_ tensors: [String: Tensor] = [:]) {
        self.tensors = tensors
    }

    public var names: [String] { tensors.keys.sorted() }

    public subscript(name: String) -> Tensor? {
        get { tensors[name] }
        set { tensors[name] = newValue }
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

/// Why a checkpoint could not be used. Every case names what was wrong.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case missingTensor(String)
    case shapeMismatch(String, expected: [Int], actual: [Int])
    case nonFinite(String)
    case malformed(String)
    case unsupported(String)
    case io(String)

    public var description: String {
        switch self {
        case .missingTensor(let name): "tensor '\(name)' is missing from the checkpoint"
        case .shapeMismatch(let name, let expected, let actual):
            "tensor '\(name)' has shape \(actual), expected \(expected)"
        case .nonFinite(let name): "tensor '\(name)' holds NaN or infinite values"
        case .malformed(let why): "malformed checkpoint: \(why)"
        case .unsupported(let why): "unsupported checkpoint: \(why)"
        case .io(let why): "cannot read checkpoint: \(why)"
        }
    }
}
