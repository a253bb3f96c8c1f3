import Checkpoint
@testable import vqtok
import Foundation
import Testing

/// `vqtok encode`, `decode` and `inspect`, run as a user runs them: the built executable on the
/// committed parity fixtures, whose ids and reconstructions come from the PyTorch reference.
@Suite struct CommandLineTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let photos = ["astronaut", "coffee", "chelsea", "rocket"]
        .map { fixtures.appendingPathComponent("photos/\($0).png").path }

    @Test(arguments: ["tiny-vqganlc-f16", "tiny-taming-f16", "tiny-llamagen-f16"])
    func encodeWritesTheReferenceIdsAsNpy(model: String) throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/\(model)")
        let out = temporaryFile("ids.npy")
        let run = try vqtok(["encode", "--model", modelDir.path, "--format", "npy", "-o", out.path] + Self.photos)
        #expect(run.status == 0, "\(run.stderr)")
        let (shape, ids) = try readUInt16Npy(Data(contentsOf: out))
        #expect(shape == [4, 16, 16])
        let expected = try SafeTensors.load(contentsOf: modelDir.appendingPathComponent("expected.safetensors"))
        let reference = try #require(expected.integerTensor("ids")).values.map(Int.init)
        let differing = zip(ids, reference).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(ids.count) ids differ from the reference")
    }

    /// GSQ's grids carry its 4 ids per position as a last axis, into the .npy and back out of it:
    /// the reference ids decode to a PNG of the reference reconstruction (to 8 bits).
    @Test func gsqIdsHaveAGroupAxisBothWays() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-gsq-f8")
        let out = temporaryFile("ids.npy")
        let run = try vqtok(["encode", "--model", modelDir.path, "--format", "npy", "-o", out.path] + Self.photos)
        #expect(run.status == 0, "\(run.stderr)")
        let (shape, ids) = try readUInt16Npy(Data(contentsOf: out))
        #expect(shape == [4, 32, 32, 4])
        let expected = try SafeTensors.load(contentsOf: modelDir.appendingPathComponent("expected.safetensors"))
        let reference = try #require(expected.integerTensor("ids")).values.map(Int.init)
        let differing = zip(ids, reference).filter { $0 != $1 }.count
        #expect(differing <= 2, "\(differing) of \(ids.count) ids differ from the reference (near ties allowed)")
        let inspect = try vqtok(["inspect", modelDir.path])
        #expect(inspect.stdout.contains("32 × 32 × 4 (ids per position)"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("4096 × 4"), "\(inspect.stdout)")
        let png = temporaryFile("out.png")
        let decode = try vqtok(["decode", "--model", modelDir.path, out.path, "-o", png.path])
        #expect(decode.status == 0, "\(decode.stderr)")
        // A batch of four grids writes out-0.png ... out-3.png.
        let first = png.deletingPathExtension().path + "-0.png"
        #expect((try Data(contentsOf: URL(fileURLWithPath: first))).starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    /// --resize as the service's resize=: none keeps the image's size (451×300 at f = 16 gives an
    /// 18 × 28 grid), whole squashes it; images of different sizes come out in order, as JSON,
    /// and .npy refuses them with a message.
    @Test func encodeResizesAsTheServiceDoes() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let wide = Self.fixtures.appendingPathComponent("imaging/chelsea.png").path
        let none = try vqtok(["encode", "--model", modelDir, "--resize", "none", wide, Self.photos[0], wide])
        #expect(none.status == 0, "\(none.stderr)")
        let grids = try #require(JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [[String: Any]])
        #expect(grids.map { $0["shape"] as? [Int] } == [[18, 28], [16, 16], [18, 28]])
        #expect((grids[0]["ids"] as? [Int]) == (grids[2]["ids"] as? [Int]))
        let whole = try vqtok(["encode", "--model", modelDir, "--resize", "whole", wide])
        let squashed = try #require(JSONSerialization.jsonObject(with: Data(whole.stdout.utf8)) as? [String: Any])
        #expect(squashed["shape"] as? [Int] == [16, 16])
        let npy = try vqtok(["encode", "--model", modelDir, "--resize", "none", "--format", "npy", "-o",
                             temporaryFile("ids.npy").path, wide, Self.photos[0]])
        #expect(npy.status != 0)
        #expect(npy.stderr.contains("use --format json"), "\(npy.stderr)")
        let bad = try vqtok(["encode", "--model", modelDir, "--resize", "fit", wide])
        #expect(bad.status != 0)
    }

    @Test func encodePrintsOneJSONGridPerImage() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let run = try vqtok(["encode", "--model", modelDir, Self.photos[0], Self.photos[1]])
        #expect(run.status == 0, "\(run.stderr)")
        let grids = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(grids.count == 2)
        #expect(grids[0]["shape"] as? [Int] == [16, 16])
        #expect(grids[0]["codebook_size"] as? Int == 4096)
        #expect((grids[1]["ids"] as? [Int])?.count == 256)
    }

    @Test func decodeRendersTheReferenceReconstruction() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-vqganlc-f16")
        let expected = try SafeTensors.load(contentsOf: modelDir.appendingPathComponent("expected.safetensors"))
        let ids = try #require(expected.integerTensor("ids")).values.prefix(256).map(String.init)
        let idsFile = temporaryFile("ids.json")
        try Data("{\"shape\": [16, 16], \"ids\": [\(ids.joined(separator: ","))]}".utf8).write(to: idsFile)
        let png = temporaryFile("out.png")
        let run = try vqtok(["decode", "--model", modelDir.path, idsFile.path, "-o", png.path])
        #expect(run.status == 0, "\(run.stderr)")
        let written = try Data(contentsOf: png)
        #expect(written.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        #expect(written.count > 10_000, "a 256×256 reconstruction is more than \(written.count) bytes")
    }

    @Test func inspectDescribesTheModel() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-vqganlc-f16").path
        let run = try vqtok(["inspect", modelDir])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("vqgan_lc"))
        #expect(run.stdout.contains("projected_l2"))
        #expect(run.stdout.contains("16 × 16"))
        #expect(run.stdout.contains("4096 × 8"))
        // The fixture file holds exactly the tensors the network reads.
        let weights = try SafeTensors.load(contentsOf: URL(fileURLWithPath: modelDir).appendingPathComponent("model.safetensors"))
        let total = weights.names.reduce(0) { $0 + weights[$1]!.count }
        #expect(run.stdout.contains("parameters  \(total.formatted())"), "\(run.stdout)")
    }

    @Test func encodeRefusesAFileThatIsNotAnImage() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let notAnImage = temporaryFile("notes.png")
        try Data("just text".utf8).write(to: notAnImage)
        let run = try vqtok(["encode", "--model", modelDir, notAnImage.path])
        #expect(run.status != 0)
        #expect(run.stderr.lowercased().contains("png") || run.stderr.lowercased().contains("image"), "\(run.stderr)")
    }

    /// A bad ids file, a missing image or an output that cannot be written is named with the
    /// reason, in the command line's terms (no HTTP status, no "body", no NSError dump).
    @Test func decodeAndEncodeNameTheFileAndTheReason() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let notIds = temporaryFile("notes.json")
        try Data("just text".utf8).write(to: notIds)
        let decode = try vqtok(["decode", "--model", modelDir, notIds.path, "-o", temporaryFile("out.png").path])
        #expect(decode.status != 0)
        #expect(decode.stderr.contains("\(notIds.path): the ids are not valid JSON"), "\(decode.stderr)")
        #expect(!decode.stderr.contains("400"), "\(decode.stderr)")
        let missing = temporaryFile("missing.png").path
        let encode = try vqtok(["encode", "--model", modelDir, missing])
        #expect(encode.status != 0)
        #expect(encode.stderr.contains("cannot read \(missing): no such file"), "\(encode.stderr)")
        let photo = Self.fixtures.appendingPathComponent("photos/coffee.png").path
        let nowhere = temporaryFile("no-such-folder").appendingPathComponent("ids.json").path
        let unwritable = try vqtok(["encode", "--model", modelDir, "-o", nowhere, photo])
        #expect(unwritable.status != 0)
        #expect(unwritable.stderr.contains("cannot write \(nowhere): no folder"), "\(unwritable.stderr)")
    }

    /// The bench modes refuse what they cannot measure, each with a message, instead of trapping.
    @Test func benchRefusesEmptyAndMalformedWork() throws {
        let modelDir = Self.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let flat = temporaryFile("flat.npy"), empty = temporaryFile("empty.npy")
        try NPY.write(float32: [Float](repeating: 0, count: 10), shape: [2, 5], to: flat)
        try NPY.write(float32: [], shape: [0, 8], to: empty)
        let cases: [([String], String)] = [
            (["model", "--model", modelDir, "--batch", "0"], "--batch must be at least 1"),
            (["model", "--model", modelDir, "--what", "encdoe"], "--what must name encode, decode or both"),
            (["model", "--model", modelDir, "--input", flat.path], "is [2, 5]"),
            (["search", "--codes", "0"], "--codes and --dim must be at least 1"),
            (["search", "--codebook", empty.path], "not [0, 8]"),
            (["search", "--codebook", temporaryFile("missing.npy").path], "missing.npy: no such file"),
            (["search", "--warmup=-1"], "--warmup must be 0 or more"),
            (["conv", "--sgemm-sizes", "1024,x"], "--sgemm-sizes must be positive whole numbers"),
        ]
        for (arguments, message) in cases {
            let run = try vqtok(["bench"] + arguments)
            #expect(run.status == 64, "\(arguments): status \(run.status), \(run.stderr)")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }

    @Test func aModelFolderWithoutConfigIsNamedInTheError() throws {
        let empty = temporaryFile("empty-model")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let run = try vqtok(["inspect", empty.path])
        #expect(run.status != 0)
        #expect(run.stderr.contains("config.json"), "\(run.stderr)")
    }
}

// MARK: - Running the executable

struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the `vqtok` built beside this test bundle (the test target depends on it).
func vqtok(_ arguments: [String]) throws -> Run {
    let process = Process()
    process.executableURL = vqtokBinary()
    process.arguments = arguments
    let out = temporaryFile("stdout"), err = temporaryFile("stderr")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return Run(status: process.terminationStatus,
               stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
               stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
}

func temporaryFile(_ name: String) -> URL {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("vqtok-cli-\(UUID().uuidString)-\(name)")
}

/// Shape and values of a little-endian uint16 .npy file (what `encode` writes for these models).
func readUInt16Npy(_ data: Data) throws -> (shape: [Int], values: [Int]) {
    let bytes = [UInt8](data)
    try #require(bytes.count > 10 && bytes[0] == 0x93 && bytes[6] == 1)
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    let header = String(decoding: bytes[10..<10 + headerLength], as: UTF8.self)
    try #require(header.contains("'descr': '<u2'"), "dtype: \(header)")
    let shapeText = try #require(header.split(separator: "(").last?.split(separator: ")").first)
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let body = bytes[(10 + headerLength)...]
    let values = stride(from: body.startIndex, to: body.endIndex, by: 2).map { Int(bytes[$0]) | Int(bytes[$0 + 1]) << 8 }
    return (shape, values)
}
