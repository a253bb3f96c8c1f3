import Checkpoint
import Tensor

/// Fetches the weights a network declares, by upstream name and expected shape, and rejects
/// values that are not finite; every failure names the tensor.
struct Weights {
    enum Source {
        case tensors(TensorSet)
        /// Read tensor by tensor; the file checks finiteness as it converts.
        case file(SafeTensorsFile)
    }

    let source: Source
    /// Supplies tensors the set lacks. Only tests use it, to build models of any config
    /// from made-up weights and to list the tensors an architecture declares.
    var synthesize: ((_ name: String, _ shape: [Int]) -> Tensor)? = nil
    /// Elements of every tensor handed out so far: the network's parameter count once built.
    let tally = ParameterTally()

    init(tensors: TensorSet, synthesize: ((_ name: String, _ shape: [Int]) -> Tensor)? = nil) {
        source = .tensors(tensors)
        self.synthesize = synthesize
    }

    init(_ source: ModelDirectory.WeightsSource) {
        switch source {
        case .safetensors(let file): self.source = .file(file)
        case .tensors(let set): self.source = .tensors(set)
        }
    }

    func require(_ name: String, _ shape: [Int]) throws -> Tensor {
        tally.count += shape.reduce(1, *)
        switch source {
        case .file(let file):
            return try file.require(name, shape: shape)
        case .tensors(let tensors):
            if let synthesize, tensors[name] == nil { return synthesize(name, shape) }
            let tensor = try tensors.require(name, shape: shape)
            try Self.checkFinite(tensor, name)
            return tensor
        }
    }

    /// Calls `body` with blocks of at most `blockRows` rows of the tensor `name` ([rows, ...],
    /// in order, the row range beside each): a large tensor needed only to compute something
    /// smaller (the frozen codebook) is never held whole when it comes from a file.
    func forEachRowBlock(_ name: String, _ shape: [Int], blockRows: Int,
                         _ body: (Tensor, Range<Int>) throws -> Void) throws {
        precondition(!shape.isEmpty && blockRows > 0, "forEachRowBlock wants [rows, ...] and positive blocks")
        switch source {
        case .file(let file):
            tally.count += shape.reduce(1, *)
            for first in stride(from: 0, to: shape[0], by: blockRows) {
                let rows = first..<min(shape[0], first + blockRows)
                try body(try file.requireRows(name, shape: shape, rows: rows), rows)
            }
        case .tensors:
            let whole = try require(name, shape)
            let perRow = shape.dropFirst().reduce(1, *)
            for first in stride(from: 0, to: shape[0], by: blockRows) {
                let rows = first..<min(shape[0], first + blockRows)
                let values = Array(whole.storage[(rows.lowerBound * perRow)..<(rows.upperBound * perRow)])
                try body(Tensor(shape: [rows.count] + shape.dropFirst(), storage: values), rows)
            }
        }
    }

    private static func checkFinite(_ tensor: Tensor, _ name: String) throws {
        let finite = tensor.storage.withUnsafeBufferPointer { values in
            var finite = true
            for v in values where !v.isFinite { finite = false; break }
            return finite
        }
        guard finite else { throw CheckpointError.nonFinite(name) }
    }
}

/// Counts parameters while a network is built (a class so the `Weights` value shared by every
/// block adds to one total); lives only during `VQTokenizer.init`.
final class ParameterTally {
    var count = 0
}
