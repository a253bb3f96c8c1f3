/// A dense f32 tensor, row-major. Images are NCHW.
///
/// Value semantics (copy-on-write through `[Float]`). Kernels write into a caller-owned
/// output tensor whose storage is reused when its capacity suffices, so a forward pass
/// recycles a few activation buffers instead of allocating per operation.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) values, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Number of elements.
    public var count: Int { storage.count }

    /// Gives the tensor a new shape, keeping the storage's capacity (no reallocation when
    /// the new element count fits). Contents are unspecified afterwards unless the count is unchanged.
    public mutating func resize(to newShape: [Int]) {
        let n = newShape.reduce(1, *)
        if n < storage.count {
            storage.removeLast(storage.count - n)
        } else if n > storage.count {
            storage.append(contentsOf: repeatElement(0, count: n - storage.count))
        }
        shape = newShape
    }

    /// A copy without the spare capacity `resize(to:)` may have kept, for results that
    /// outlive the scratch buffer they were computed in.
    public func compacted() -> Tensor {
        Tensor(shape: shape, storage: storage.withUnsafeBufferPointer { Array($0) })
    }

    /// Same elements, new shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }
}
