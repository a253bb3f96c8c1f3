import Foundation
import Testing
@testable import Checkpoint
import Tensor

@Suite struct SafeTensorsRoundTrip {
    let set = TensorSet([
        "encoder.conv_in.weight": Tensor(shape: [2, 3, 1, 1], storage: [0.5, -1.25, 3, 0.1, -0.0, 65504]),
        "scalar": Tensor(shape: [], storage: [7]),
        "empty": Tensor(shape: [0, 4], storage: []),
    ], integers: ["ids": IntTensor(shape: [2, 2], values: [0, 4095, -3, 17])],
       metadata: ["format": "pt", "source": "unit \"test\""])

    @Test func f32RoundTripIsExact() throws {
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("m.safetensors")
            try SafeTensors.write(set, dtype: .f32, integerDType: .i32, to: url)
            let back = try SafeTensors.load(contentsOf: url)
            #expect(back.names == set.names)
            for name in set.names { #expect(back[name] == set[name], "\(name)") }
            #expect(back.integerTensor("ids") == set.integerTensor("ids"))
            #expect(back.metadata == set.metadata)
            let raw = try SafeTensors.loadRaw(contentsOf: url)
            #expect(raw["ids"]?.dtype == .i32)
            #expect(raw["ids"]?.bytes.count == 16)
            #expect(raw["scalar"]?.shape == [])
        }
    }

    @Test func f16RoundTripKeepsHalfRepresentableValues() throws {
        let bytes = try SafeTensors.serialize(set, dtype: .f16)
        let back = try SafeTensors.parse(bytes)
        // All stored values are exactly representable in f16 except 0.1.
        let got = try #require(back["encoder.conv_in.weight"]).storage
        #expect(got[0] == 0.5 && got[1] == -1.25 && got[2] == 3 && got[5] == 65504)
        #expect(abs(got[3] - 0.1) < 1e-4)
        #expect(got[4] == 0 && got[4].sign == .minus)
        #expect(back.integerTensor("ids")?.values == [0, 4095, -3, 17])
    }

    @Test func bf16RoundTripRoundsToNearestEven() throws {
        let tensors = TensorSet(["w": Tensor(shape: [4], storage: [1, -2.5, 1.00390625, 3.0e38])])
        let back = try SafeTensors.parse(SafeTensors.serialize(tensors, dtype: .bf16))
        let got = try #require(back["w"]).storage
        #expect(got[0] == 1 && got[1] == -2.5)
        #expect(got[2] == 1)          // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even
        #expect(abs(got[3] - 3.0e38) / 3.0e38 < 1e-2)
    }

    @Test func halfConversionMatchesFloat16ForEveryPattern() {
        for bits in UInt16.min...UInt16.max {
            let f = ElementConversion.floatFromHalf(bits)
            if f.isNaN { continue }
            #expect(ElementConversion.halfFromFloat(f) == bits, "pattern \(bits)")
        }
        #expect(ElementConversion.halfFromFloat(65520) == 0x7C00)          // rounds up to infinity
        #expect(ElementConversion.halfFromFloat(5.960_464_5e-8) == 0x0001) // smallest subnormal
        #expect(ElementConversion.halfFromFloat(2.980_232_2e-8) == 0x0000) // half of it: tie to even
        #expect(ElementConversion.floatFromHalf(ElementConversion.halfFromFloat(.nan)).isNaN)
    }

    @Test func headerIsPaddedToEightBytes() throws {
        let bytes = try SafeTensors.serialize(set)
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))
    }

    @Test func readsUpstreamIntegerAndFloatDTypes() throws {
        let header = #"{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]},"u":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"#
            + #""d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"s":{"dtype":"I16","shape":[2],"data_offsets":[4,8]}}"#
        let buffer: [UInt8] = [1, 0, 200, 7, 0xFF, 0xFF, 2, 0] + withUnsafeBytes(of: (0.25 as Double).bitPattern.littleEndian) { Array($0) }
        let set = try SafeTensors.parse(safetensorsImage(header: header, buffer: buffer))
        #expect(set.integerTensor("b")?.values == [1, 0])
        #expect(set.integerTensor("u")?.values == [200, 7])
        #expect(set.integerTensor("s")?.values == [-1, 2])
        #expect(set["d"]?.storage == [0.25])
        #expect(try set.requireIntegers("u", shape: [2]).values == [200, 7])
    }
}

@Suite struct SafeTensorsRejectsCorruption {
    static let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
    static let buffer = floatBytes([1, 2, 3])

    func parse(_ bytes: [UInt8]) throws(CheckpointError) { _ = try SafeTensors.parse(bytes) }
    func parse(header: String, buffer: [UInt8] = Self.buffer) throws(CheckpointError) {
        _ = try SafeTensors.parse(safetensorsImage(header: header, buffer: buffer))
    }

    @Test func validImageParses() throws {
        let set = try SafeTensors.parse(safetensorsImage(header: Self.header, buffer: Self.buffer))
        #expect(set["a"]?.storage == [1, 2] && set["b"]?.storage == [3])
    }

    @Test func truncatedFile() {
        let image = safetensorsImage(header: Self.header, buffer: Self.buffer)
        expectCheckpointError("'b'", "end past the 8-byte buffer") { () throws(CheckpointError) in
            try parse(Array(image.dropLast(4)))
        }
        expectCheckpointError("shorter than the 8-byte header length") { () throws(CheckpointError) in try parse([1, 0, 0]) }
    }

    @Test func headerLengthPastEndOfFile() {
        var image = safetensorsImage(header: Self.header, buffer: [])
        image[0] = 0xFF
        image[1] = 0x0F
        expectCheckpointError("header length 4095 runs past the end of the file") { () throws(CheckpointError) in
            try parse(image)
        }
    }

    @Test func hugeDeclaredHeader() {
        var image = safetensorsImage(header: Self.header, buffer: Self.buffer)
        image.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 1, 0, 0])
        expectCheckpointError("exceeds the 100000000-byte limit") { () throws(CheckpointError) in try parse(image) }
    }

    @Test func offsetsOutOfRange() {
        expectCheckpointError("'b'", "[8, 16]", "end past the 12-byte buffer") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#)
        }
        expectCheckpointError("'a'", "not ordered") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, buffer: [])
        }
        expectCheckpointError("'a'", "not an integer in range") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,99999999999999999999]}}"#)
        }
    }

    @Test func overlappingTensors() {
        expectCheckpointError("overlap", "'a'", "'b'") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#)
        }
    }

    @Test func holesAndTrailingBytes() {
        expectCheckpointError("hole before 'b'", "bytes 4..<8") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#)
        }
        expectCheckpointError("trailing data", "bytes 8..<12") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#)
        }
    }

    @Test func shapeDoesNotMatchByteLength() {
        expectCheckpointError("'a'", "shape [3] of F32 needs 12 bytes, data_offsets give 8") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#)
        }
        expectCheckpointError("'a'", "overflows") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,12]}}"#)
        }
        expectCheckpointError("'a'", "negative dimension") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}}"#)
        }
    }

    @Test func badJSON() {
        expectCheckpointError("header JSON") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}"#)
        }
        expectCheckpointError("not a JSON object") { () throws(CheckpointError) in try parse(header: "[1,2]    ") }
        expectCheckpointError("'a'", "no dtype") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"shape":[3],"data_offsets":[0,12]}}"#)
        }
        expectCheckpointError("'a'", "unknown field 'strides'") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12],"strides":[1]}}"#)
        }
        expectCheckpointError("__metadata__ field 'n'", "expected a string") { () throws(CheckpointError) in
            try parse(header: #"{"__metadata__":{"n":1},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#)
        }
    }

    @Test func unknownDType() {
        expectCheckpointError("'a'", "dtype 'F8_E4M3'") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F8_E4M3","shape":[12],"data_offsets":[0,12]}}"#)
        }
    }

    @Test func nonFiniteValuesNameTheTensor() {
        expectCheckpointError("'b'", "NaN") { () throws(CheckpointError) in
            try parse(header: Self.header, buffer: floatBytes([1, 2, .nan]))
        }
        expectCheckpointError("'h'", "NaN or infinite") { () throws(CheckpointError) in
            try parse(header: #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, buffer: [0, 0x3C, 0, 0x7C])
        }
        expectCheckpointError("'g'", "NaN or infinite") { () throws(CheckpointError) in
            try parse(header: #"{"g":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}"#, buffer: [0xC0, 0x7F])
        }
    }

    @Test func duplicateTensorName() {
        expectCheckpointError("duplicate key \"a\"") { () throws(CheckpointError) in
            try parse(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#)
        }
    }

    @Test func missingFileIsAnIOError() {
        expectCheckpointError("cannot read checkpoint", "nope.safetensors") { () throws(CheckpointError) in
            _ = try SafeTensors.load(contentsOf: URL(fileURLWithPath: "/nonexistent/nope.safetensors"))
        }
    }
}
