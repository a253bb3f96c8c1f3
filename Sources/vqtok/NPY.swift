import Foundation
import Tensor

/// numpy's .npy format, version 1.0/2.0, little-endian C-order arrays only: what run.py writes.
enum NPY {
    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    static func readFloat32(_ url: URL) throws -> Tensor {
        let data = Data(try readFile(url.path))  // a missing file named as the other commands name it
        let (descr, fortran, shape, offset) = try header(data, url: url)
        guard descr == "<f4", !fortran else {
            throw FormatError(description: "\(url.path): want little-endian float32 in C order, got \(descr)")
        }
        let count = shape.reduce(1, *)
        guard data.count - offset >= count * 4 else {
            throw FormatError(description: "\(url.path): truncated (\(data.count - offset) bytes for \(count) floats)")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + count * 4)]))
            }
        }
        return Tensor(shape: shape, storage: values)
    }

    static func write(int32 values: [Int32], shape: [Int], to url: URL) throws {
        try write(values, descr: "<i4", shape: shape, to: url)
    }

    static func write(float32 values: [Float], shape: [Int], to url: URL) throws {
        try write(values, descr: "<f4", shape: shape, to: url)
    }

    /// Format 1.0: magic, version, header length, a dict literal padded to 64 bytes, raw values.
    private static func write<Value>(_ values: [Value], descr: String, shape: [Int], to url: URL) throws {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(text.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(text.utf8))
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: url)
    }

    private static func header(_ data: Data, url: URL) throws -> (String, Bool, [Int], Int) {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw FormatError(description: "\(url.path) is not a .npy file")
        }
        let major = bytes[6]
        let (length, start): (Int, Int)
        if major == 1 {
            (length, start) = (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
        } else {
            guard bytes.count >= 12 else { throw FormatError(description: "\(url.path): short header") }
            (length, start) = (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        }
        guard data.count >= start + length,
              let text = String(data: data.subdata(in: start..<(start + length)), encoding: .ascii) else {
            throw FormatError(description: "\(url.path): bad header")
        }
        func field(_ key: String) -> Substring? {
            guard let r = text.range(of: "'\(key)':") else { return nil }
            return text[r.upperBound...].drop(while: { $0 == " " })
        }
        guard let d = field("descr"), let f = field("fortran_order"), let s = field("shape"),
              let descrEnd = d.dropFirst().firstIndex(of: "'"), let shapeEnd = s.firstIndex(of: ")") else {
            throw FormatError(description: "\(url.path): unreadable header \(text)")
        }
        let descr = String(d.dropFirst()[..<descrEnd])
        let shape = s.dropFirst()[..<shapeEnd].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        return (descr, f.hasPrefix("True"), shape, start + length)
    }
}
