import Testing
@testable import Server

/// The bytes numpy 2.4's `np.save` writes, header padding included.
private func numpyFile(header: String, headerLength: Int, data: [UInt8]) -> [UInt8] {
    let padded = header + String(repeating: " ", count: headerLength - header.utf8.count - 1) + "\n"
    return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)]
        + Array(padded.utf8) + data
}

@Suite struct NPYTests {
    @Test func readsWhatNumpyWrites() throws {
        let file = numpyFile(header: "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }",
                             headerLength: 118, data: [0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
        let array = try NPY.decode(file)
        #expect(array.shape == [2, 3])
        #expect(array.dtype == .uint16)
        #expect(array.values == [0, 1, 2, 3, 4, 5])
    }

    @Test func readsEveryIntegerDtype() throws {
        let cases: [(String, [UInt8], [Int64])] = [
            ("|u1", [7, 255], [7, 255]),
            ("<u4", [112, 17, 1, 0, 1, 0, 0, 0], [70000, 1]),
            ("<i4", [255, 255, 255, 255, 3, 0, 0, 0], [-1, 3]),
            ("<i8", [2, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255], [2, -1]),
        ]
        for (descr, data, expected) in cases {
            let file = numpyFile(header: "{'descr': '\(descr)', 'fortran_order': False, 'shape': (2,), }",
                                 headerLength: 118, data: data)
            #expect(try NPY.decode(file).values == expected, "dtype \(descr)")
        }
    }

    @Test func readsFormatVersion3() throws {
        let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"
        let padded = header + String(repeating: " ", count: 116 - header.utf8.count - 1) + "\n"
        let file = [0x93] + Array("NUMPY".utf8) + [3, 0, 116, 0, 0, 0] + Array(padded.utf8)
            + [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]
        #expect(try NPY.decode(file).values == [1, 2, 3])
    }

    @Test func writesAlignedVersion1Files() throws {
        let file = NPY.encode(shape: [2, 3], dtype: .uint16, values: [0, 1, 2, 3, 4, 5])
        #expect(Array(file[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(file[8]) | Int(file[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(file[10 + headerLength - 1] == UInt8(ascii: "\n"))
        let header = String(decoding: file[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(Array(file.suffix(12)) == [0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
    }

    @Test func roundTripsBatchesAndOneDimensionalShapes() throws {
        let big = NPY.encode(shape: [2, 2, 2], dtype: .uint32, values: [0, 99_999, 5, 6, 7, 8, 9, 70_000])
        let back = try NPY.decode(big)
        #expect(back.shape == [2, 2, 2] && back.dtype == .uint32)
        #expect(back.values == [0, 99_999, 5, 6, 7, 8, 9, 70_000])
        let one = try NPY.decode(NPY.encode(shape: [3], dtype: .uint16, values: [1, 2, 3]))
        #expect(one.shape == [3])
    }

    @Test func rejectsMalformedFilesWith400() {
        let good = NPY.encode(shape: [2, 2], dtype: .uint16, values: [1, 2, 3, 4])
        let cases: [([UInt8], String)] = [
            (Array("not numpy at all".utf8), "not a .npy file"),
            (Array(good.dropLast(2)), "needs 8 bytes"),
            (Array(good.prefix(20)), "truncated"),
            ([0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0], "version 9.0"),
        ]
        for (bytes, fragment) in cases {
            let error = #expect(throws: ServiceError.self) { try NPY.decode(bytes) }
            #expect(error?.status == 400)
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
        }
    }

    @Test func rejectsFloatsAndFortranOrderWith422() {
        for header in ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                       "{'descr': '<i4', 'fortran_order': True, 'shape': (1,), }"] {
            let file = numpyFile(header: header, headerLength: 118, data: [0, 0, 0, 0])
            let error = #expect(throws: ServiceError.self) { try NPY.decode(file) }
            #expect(error?.status == 422)
        }
    }

    @Test func rejectsShapesLargerThanTheBody() {
        let file = numpyFile(header: "{'descr': '<u2', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
                             headerLength: 118, data: [0, 0])
        let error = #expect(throws: ServiceError.self) { try NPY.decode(file) }
        #expect(error?.status == 400)
    }
}
