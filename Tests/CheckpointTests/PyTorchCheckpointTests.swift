import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// Loads fixture `<name>.<ext>` with the PyTorch reader and compares it with
/// `<name>.expected.safetensors`, written by Python's safetensors from the same tensors.
func expectMatchesPython(_ file: String, bareTensorName: String? = nil,
                         sourceLocation: SourceLocation = #_sourceLocation) throws -> TensorSet {
    let got = try PyTorchCheckpoint.load(contentsOf: checkpointFixtures.appendingPathComponent(file),
                                         bareTensorName: bareTensorName)
    let stem = String(file.prefix(upTo: file.firstIndex(of: ".")!))
    let want = try SafeTensors.load(contentsOf: checkpointFixtures.appendingPathComponent("\(stem).expected.safetensors"))
    #expect(got.names == want.names, sourceLocation: sourceLocation)
    #expect(got.integers.keys.sorted() == want.integers.keys.sorted(), sourceLocation: sourceLocation)
    #expect(!want.names.isEmpty, sourceLocation: sourceLocation)
    for name in want.names {
        #expect(got[name] == want[name], "tensor \(name)", sourceLocation: sourceLocation)
    }
    for (name, ints) in want.integers {
        #expect(got.integerTensor(name) == ints, "tensor \(name)", sourceLocation: sourceLocation)
    }
    return got
}

@Suite struct PyTorchCheckpointReading {
    @Test func plainStateDict() throws {
        let set = try expectMatchesPython("plain_state_dict.pth")
        #expect(set["0.weight"]?.shape == [4, 3, 3, 3])
        #expect(set.integerTensor("2.num_batches_tracked") == IntTensor(shape: [], values: [7]))
    }

    @Test func lightningCheckpointTakesStateDictAndToleratesOtherObjects() throws {
        let set = try expectMatchesPython("lightning.ckpt")
        #expect(set.names.allSatisfy { $0.hasPrefix("model.") })
        #expect(set["model.0.bias"]?.shape == [4])
    }

    @Test func halfAndBFloat16AreWidened() throws {
        let set = try expectMatchesPython("half.pt")
        #expect(set["extra.bf16"]?.storage == [1, -2.5, 3.140625])
        #expect(set["extra.f64"]?.storage == [0.25, Float(-1e-3)])
    }

    /// flex_gen's GSQ checkpoints: the state dict under model_state_dict, next to its config as
    /// bytes holding a nested pickle (read as inert bytes, never unpickled).
    @Test func flexGenCheckpointTakesModelStateDict() throws {
        let set = try expectMatchesPython("flex_gen.pt")
        #expect(set["0.weight"]?.shape == [4, 3, 3, 3])
    }

    @Test func emaIsPreferredOverModel() throws {
        let set = try expectMatchesPython("ema.pt")
        #expect(set["w"]?.storage == [1, 1])
    }

    @Test func viewsHonourOffsetAndStrides() throws {
        let set = try expectMatchesPython("views.pth")
        #expect(set["transposed"]?.shape == [6, 4])
        #expect(set["transposed"]?.storage.prefix(4) == [0, 6, 12, 18])
        #expect(set["row"]?.storage == [6, 7, 8, 9, 10, 11])
        #expect(set["every_other"]?.storage == [0, 3, 12, 15])
        #expect(set["scalar"] == Tensor(shape: [], storage: [15]))
        #expect(set["empty"]?.shape == [0, 6])
    }

    @Test func bareTensorNeedsAName() throws {
        let set = try expectMatchesPython("codebook.pth", bareTensorName: "codebook")
        #expect(set["codebook"]?.shape == [16, 8])
        let tensor = try PyTorchCheckpoint.loadTensor(contentsOf: checkpointFixtures.appendingPathComponent("codebook.pth"))
        #expect(tensor == set["codebook"])
        expectCheckpointError("single tensor [16, 8]", "loadTensor") { () throws(CheckpointError) in
            _ = try PyTorchCheckpoint.load(contentsOf: checkpointFixtures.appendingPathComponent("codebook.pth"))
        }
        expectCheckpointError("holds a state dict") { () throws(CheckpointError) in
            _ = try PyTorchCheckpoint.loadTensor(contentsOf: checkpointFixtures.appendingPathComponent("ema.pt"))
        }
    }

    @Test func newerDTypesThroughRebuildTensorV3() throws {
        let set = try expectMatchesPython("rebuild_v3.pth")
        #expect(set.integerTensor("u16") == IntTensor(shape: [1, 2], values: [1, 65535]))
        #expect(set.integerTensor("u32")?.values == [4_000_000_000])
    }

    @Test func pickleProtocol4() throws {
        _ = try expectMatchesPython("protocol4.pth")
    }

    @Test func maliciousGlobalsStayInert() throws {
        let marker = "/tmp/vqtok-checkpoint-fixture-pwned"
        try? FileManager.default.removeItem(atPath: marker)
        let set = try expectMatchesPython("malicious_nested.pth")
        #expect(set.names == ["w"])
        expectCheckpointError("top-level object is object posix.system") { () throws(CheckpointError) in
            _ = try PyTorchCheckpoint.load(contentsOf: checkpointFixtures.appendingPathComponent("malicious_top.pth"))
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func modelDirectoryFallsBackToTheCheckpoint() throws {
        try withTemporaryDirectory { dir in
            try Data(exampleConfig.utf8).write(to: dir.appendingPathComponent("config.json"))
            try FileManager.default.copyItem(at: checkpointFixtures.appendingPathComponent("lightning.ckpt"),
                                             to: dir.appendingPathComponent("last.ckpt"))
            let model = try ModelDirectory.load(dir)
            #expect(model.weightsFile.lastPathComponent == "last.ckpt")
            #expect(model.weights["model.0.weight"]?.shape == [4, 3, 3, 3])
        }
    }
}
