import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// `SafeTensorsFile` reads what `SafeTensors.load` reads, one tensor (or block of rows) at a time.
@Suite struct SafeTensorsFileTests {
    static let tensors: [String: Tensor] = [
        "a": Tensor(shape: [3, 4], storage: (0..<12).map { Float($0) * 0.5 - 2 }),
        "b": Tensor(shape: [5], storage: [1, -2, 3, -4, 5]),
        "big": Tensor(shape: [2000, 7], storage: (0..<14000).map { Float($0 % 97) - 48 }),
    ]

    @Test(arguments: [DType.f32, .f16, .bf16])
    func tensorsAndRowsMatchTheWholeLoad(dtype: DType) throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("w.safetensors")
            var set = TensorSet(Self.tensors)
            set.setInteger("ids", IntTensor(shape: [2], values: [7, 9]))
            try SafeTensors.write(set, dtype: dtype, to: url)
            let whole = try SafeTensors.load(contentsOf: url)
            let file = try SafeTensorsFile(contentsOf: url)
            #expect(file.names == ["a", "b", "big", "ids"])
            for name in ["a", "b", "big"] {
                let want = whole[name]!
                #expect(try file.require(name, shape: want.shape) == want)
                // Read again after its pages were released: the same values.
                #expect(try file.require(name, shape: want.shape) == want)
            }
            let big = whole["big"]!
            let rows = try file.requireRows("big", shape: [2000, 7], rows: 1500..<2000)
            #expect(rows.shape == [500, 7])
            #expect(rows.storage == Array(big.storage[(1500 * 7)..<(2000 * 7)]))
        }
    }

    @Test func errorsNameTheTensor() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("w.safetensors")
            var set = TensorSet(["a": Tensor(shape: [2], storage: [1, .nan])])
            set.setInteger("ids", IntTensor(shape: [1], values: [3]))
            try SafeTensors.write(set, to: url)
            let file = try SafeTensorsFile(contentsOf: url)
            expectCheckpointError("'missing'", "missing") { () throws(CheckpointError) in
                _ = try file.require("missing", shape: [2])
            }
            expectCheckpointError("'a'", "[3]") { () throws(CheckpointError) in _ = try file.require("a", shape: [3]) }
            expectCheckpointError("'a'", "NaN") { () throws(CheckpointError) in _ = try file.require("a", shape: [2]) }
            expectCheckpointError("'ids'", "integers") { () throws(CheckpointError) in
                _ = try file.require("ids", shape: [1])
            }
        }
    }

    /// The header is checked when the file opens, as `SafeTensors.load` checks it.
    @Test func rejectsAMalformedHeaderOnOpen() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("bad.safetensors")
            let image = safetensorsImage(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#,
                                         buffer: floatBytes([1, 2, 3]))
            try Data(image).write(to: url)
            expectCheckpointError("'a'", "needs 8 bytes") { () throws(CheckpointError) in
                _ = try SafeTensorsFile(contentsOf: url)
            }
        }
    }
}
