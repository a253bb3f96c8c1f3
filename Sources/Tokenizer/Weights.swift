import Checkpoint
import Tensor

/// Fetches the weights a network declares, by upstream name and expected shape, and rejects
/// values that are not finite; every failure names the tensor.
struct Weights {
    let tensors: TensorSet
    /// Supplies tensors the set lacks. Only tests use it, to build models of any config
    /// from made-up weights and to list the tensors an architecture declares.
    var synthesize: ((_ name: String, _ shape: [Int]) -> Tensor)? = nil
    /// Elements of every tensor handed out so far: the network's parameter count once built.
    let tally = ParameterTally()

    func require(_ name: String, _ shape: [Int]) throws -> Tensor {
        tally.count += shape.reduce(1, *)
        if let synthesize, tensors[name] == nil { return synthesize(name, shape) }
        let tensor = try tensors.require(name, shape: shape)
        let finite = tensor.storage.withUnsafeBufferPointer { values in
            var finite = true
            for v in values where !v.isFinite { finite = false; break }
            return finite
        }
        guard finite else { throw CheckpointError.nonFinite(name) }
        return tensor
    }
}

/// Counts parameters while a network is built (a class so the `Weights` value shared by every
/// block adds to one total); lives only during `VQTokenizer.init`.
final class ParameterTally {
    var count = 0
}

/// Per-call scratch of one forward pass. Each `encode`/`decode` owns one, so concurrent calls
/// share only the immutable weights; within a pass the buffers are reused from layer to layer.
struct Workspace {
    var a = Tensor(zeros: [0])
    var b = Tensor(zeros: [0])
    var q = Tensor(zeros: [0])
    var k = Tensor(zeros: [0])
    var v = Tensor(zeros: [0])
    var columns: [Float] = []
    var scores: [Float] = []
}
