import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// Builds pickle byte strings opcode by opcode (protocol 2).
struct PickleWriter {
    var bytes: [UInt8] = [0x80, 2]
    mutating func op(_ c: Character) { bytes.append(c.asciiValue!) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func string(_ s: String) {
        op("X")
        withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(s.utf8)
    }
    mutating func int(_ v: Int32) {
        op("J")
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }
    mutating func global(_ module: String, _ name: String) { op("c"); bytes += Array("\(module)\n\(name)\n".utf8) }
    mutating func intTuple(_ values: [Int32]) { op("("); values.forEach { int($0) }; op("t") }
    /// `_rebuild_tensor_v2((storage pid), offset, size, stride, False, None)`.
    mutating func tensor(storage: String = "FloatStorage", key: String, count: Int32,
                         offset: Int32, size: [Int32], stride: [Int32]) {
        global("torch._utils", "_rebuild_tensor_v2")
        op("("); op("("); string("storage"); global("torch", storage); string(key); string("cpu"); int(count)
        op("t"); op("Q")
        int(offset); intTuple(size); intTuple(stride); raw([0x89]); op("N"); op("t"); op("R")
    }
    mutating func stop() { op(".") }
}

/// A torch.save-like archive: stored entries under `folder/`. With `zip64`, sizes and offsets live
/// only in ZIP64 extra fields and the end record is a ZIP64 one (as for files over 4 GiB).
func zipArchive(_ entries: [(String, [UInt8])], folder: String = "ckpt", method: UInt16 = 0,
                zip64: Bool = false) -> [UInt8] {
    var out: [UInt8] = [], central: [UInt8] = []
    func le<T: FixedWidthInteger>(_ v: T, _ into: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { into += $0 } }
    for (name, data) in entries {
        let full = Array("\(folder)/\(name)".utf8)
        let offset = UInt32(out.count)
        le(UInt32(0x0403_4B50), &out); le(UInt16(20), &out); le(UInt16(0), &out); le(method, &out)
        le(UInt32(0), &out); le(UInt32(0), &out); le(UInt32(data.count), &out); le(UInt32(data.count), &out)
        le(UInt16(full.count), &out); le(UInt16(0), &out); out += full; out += data
        le(UInt32(0x0201_4B50), &central); le(UInt16(20), &central); le(UInt16(20), &central)
        le(UInt16(0), &central); le(method, &central); le(UInt32(0), &central); le(UInt32(0), &central)
        let saturated = UInt32.max
        le(zip64 ? saturated : UInt32(data.count), &central); le(zip64 ? saturated : UInt32(data.count), &central)
        le(UInt16(full.count), &central); le(UInt16(zip64 ? 28 : 0), &central)
        le(UInt16(0), &central); le(UInt16(0), &central); le(UInt16(0), &central)
        le(UInt32(0), &central); le(zip64 ? saturated : offset, &central); central += full
        if zip64 {
            le(UInt16(1), &central); le(UInt16(24), &central)
            le(UInt64(data.count), &central); le(UInt64(data.count), &central); le(UInt64(offset), &central)
        }
    }
    let cdOffset = UInt32(out.count)
    out += central
    if zip64 {
        let record = UInt64(out.count)
        le(UInt32(0x0606_4B50), &out); le(UInt64(44), &out); le(UInt16(45), &out); le(UInt16(45), &out)
        le(UInt32(0), &out); le(UInt32(0), &out); le(UInt64(entries.count), &out); le(UInt64(entries.count), &out)
        le(UInt64(central.count), &out); le(UInt64(cdOffset), &out)
        le(UInt32(0x0706_4B50), &out); le(UInt32(0), &out); le(record, &out); le(UInt32(1), &out)
    }
    le(UInt32(0x0605_4B50), &out); le(UInt16(0), &out); le(UInt16(0), &out)
    le(UInt16(entries.count), &out); le(UInt16(entries.count), &out)
    le(UInt32(central.count), &out); le(cdOffset, &out); le(UInt16(0), &out)
    return out
}

func loadCheckpoint(_ bytes: [UInt8]) throws(CheckpointError) -> TensorSet {
    try bytes.withUnsafeBytes { raw in
        Result { () throws(CheckpointError) in try PyTorchCheckpoint.parse(raw, bareTensorName: nil) }
    }.get()
}

/// A state dict {"w": tensor} over storage "0" holding `storage`.
func singleTensorCheckpoint(storage: [Float], offset: Int32 = 0, size: [Int32], stride: [Int32],
                            count: Int32? = nil, method: UInt16 = 0, zip64: Bool = false) -> [UInt8] {
    var p = PickleWriter()
    p.op("}"); p.op("("); p.string("w")
    p.tensor(key: "0", count: count ?? Int32(storage.count), offset: offset, size: size, stride: stride)
    p.op("u"); p.stop()
    return zipArchive([("data.pkl", p.bytes), ("byteorder", Array("little".utf8)), ("data/0", floatBytes(storage))],
                      method: method, zip64: zip64)
}

@Suite struct PyTorchCheckpointRejectsHostileInput {
    @Test func wellFormedHandBuiltArchiveLoads() throws {
        let set = try loadCheckpoint(singleTensorCheckpoint(storage: [1, 2, 3, 4, 5, 6], offset: 1, size: [2, 2], stride: [1, 2]))
        #expect(set["w"] == Tensor(shape: [2, 2], storage: [2, 4, 3, 5]))
    }

    @Test func zip64ExtraFieldsAreRead() throws {
        let set = try loadCheckpoint(singleTensorCheckpoint(storage: [1, 2, 3], size: [3], stride: [1], zip64: true))
        #expect(set["w"]?.storage == [1, 2, 3])
    }

    @Test func viewPastItsStorageNamesTheTensor() {
        expectCheckpointError("'w'", "reaches past its storage of 4 elements") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1, 2, 3, 4], offset: 1, size: [2, 2], stride: [2, 1]))
        }
        expectCheckpointError("'w'", "declares 100 F32 elements but holds 16 bytes") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1, 2, 3, 4], size: [4], stride: [1], count: 100))
        }
        expectCheckpointError("tensor stride", "expected a non-negative integer") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1, 2, 3, 4], offset: 3, size: [4], stride: [-1]))
        }
    }

    @Test func expandedViewCannotMultiplyMemory() {
        expectCheckpointError("'w'", "elements exceed") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1], size: [1 << 30, 1 << 10], stride: [0, 0]))
        }
    }

    @Test func nonFiniteStorageNamesTheTensor() {
        expectCheckpointError("'w'", "NaN") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1, .infinity], size: [2], stride: [1]))
        }
    }

    @Test func missingStorageAndCompressedEntries() {
        var p = PickleWriter()
        p.op("}"); p.op("("); p.string("w"); p.tensor(key: "7", count: 1, offset: 0, size: [1], stride: [1]); p.op("u"); p.stop()
        expectCheckpointError("'w'", "data/7 is missing") { () throws(CheckpointError) in
            _ = try loadCheckpoint(zipArchive([("data.pkl", p.bytes)]))
        }
        expectCheckpointError("compressed (method 8)") { () throws(CheckpointError) in
            _ = try loadCheckpoint(singleTensorCheckpoint(storage: [1], size: [1], stride: [1], method: 8))
        }
    }

    @Test func unreadableTensorKindsFailByName() {
        var p = PickleWriter()
        p.op("}"); p.string("state_dict")
        p.op("}"); p.op("("); p.string("q"); p.global("torch._utils", "_rebuild_qtensor"); p.op(")"); p.op("R")
        p.string("extra"); p.global("argparse", "Namespace"); p.op(")"); p.op("R"); p.op("u")
        p.op("s"); p.stop()
        expectCheckpointError("tensor 'q'", "torch._utils._rebuild_qtensor") { () throws(CheckpointError) in
            _ = try loadCheckpoint(zipArchive([("data.pkl", p.bytes)]))
        }
    }

    @Test func damagedArchives() throws {
        let good = singleTensorCheckpoint(storage: [1, 2], size: [2], stride: [1])
        expectCheckpointError("end-of-central-directory record not found") { () throws(CheckpointError) in
            _ = try loadCheckpoint(Array(good.dropLast(10)))
        }
        expectCheckpointError("legacy (pre-1.6)") { () throws(CheckpointError) in _ = try loadCheckpoint([0x80, 2, 0x8A, 10]) }
        expectCheckpointError("not a torch.save zip archive") { () throws(CheckpointError) in _ = try loadCheckpoint(Array("hello".utf8)) }
        var bigEndian = PickleWriter()
        bigEndian.op("N"); bigEndian.stop()
        expectCheckpointError("byte order 'big'") { () throws(CheckpointError) in
            _ = try loadCheckpoint(zipArchive([("data.pkl", bigEndian.bytes), ("byteorder", Array("big".utf8))]))
        }
        // The central directory claims more entries than it can hold.
        var lying = good
        lying[lying.count - 12] = 0xFF; lying[lying.count - 14] = 0xFF
        expectCheckpointError("ZIP declares 255 entries") { () throws(CheckpointError) in _ = try loadCheckpoint(lying) }
    }

    @Test func hostilePickles() {
        func run(_ body: (inout PickleWriter) -> Void) throws(CheckpointError) {
            var p = PickleWriter()
            body(&p)
            _ = try loadCheckpoint(zipArchive([("data.pkl", p.bytes)]))
        }
        expectCheckpointError("stack underflow") { () throws(CheckpointError) in try run { $0.op("R"); $0.stop() } }
        expectCheckpointError("memo key 9 was never stored") { () throws(CheckpointError) in try run { $0.raw([0x68, 9]); $0.stop() } }
        expectCheckpointError("unknown opcode 0xff") { () throws(CheckpointError) in try run { $0.raw([0xFF]) } }
        expectCheckpointError("protocol 9") { () throws(CheckpointError) in try run { $0.raw([0x80, 9]) } }
        expectCheckpointError("length 4294967295 runs past the end") { () throws(CheckpointError) in
            try run { $0.raw([UInt8(ascii: "X"), 0xFF, 0xFF, 0xFF, 0xFF]) }
        }
        expectCheckpointError("unexpected end of data") { () throws(CheckpointError) in try run { $0.op("N") } }
        expectCheckpointError("STOP with 2 items") { () throws(CheckpointError) in try run { $0.op("N"); $0.op("N"); $0.stop() } }
        expectCheckpointError("unsupported persistent id") { () throws(CheckpointError) in
            try run { $0.string("x"); $0.op("Q"); $0.stop() }
        }
        expectCheckpointError("EXT1") { () throws(CheckpointError) in try run { $0.raw([0x82, 1]) } }
        // 200,000 nested tuples build and free without recursion; the result is simply not a state dict.
        expectCheckpointError("top-level object is tuple (1)") { () throws(CheckpointError) in
            try run { p in
                p.op("N")
                p.raw([UInt8](repeating: 0x85, count: 200_000))
                p.stop()
            }
        }
        // A list that contains itself.
        expectCheckpointError("top-level object is list (1)") { () throws(CheckpointError) in
            try run { p in p.op("]"); p.raw([0x71, 0]); p.raw([0x68, 0]); p.op("a"); p.stop() }
        }
    }

    @Test func corruptedFixturesNeverCrash() throws {
        // Deterministic byte flips over a real checkpoint: every outcome is a result or a CheckpointError.
        let original = try [UInt8](Data(contentsOf: checkpointFixtures.appendingPathComponent("lightning.ckpt")))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var failures = 0
        for _ in 0..<400 {
            var bytes = original
            for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            do { _ = try loadCheckpoint(bytes) } catch { failures += 1 }
        }
        #expect(failures > 0)
    }
}
