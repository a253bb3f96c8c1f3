import Checkpoint
import Tensor

/// Fetches the weights a network declares, by upstream name and expected shape, and rejects
/// values that are not finite; every failure names the tensor.
struct Weights {
    let tensors: TensorSet

    func require(_ name: String, _ shape: [Int]) throws -> Tensor {
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
