import Foundation
import Tensor

/// The safetensors format (huggingface/safetensors): a u64 little-endian header length N, N bytes
/// of JSON describing each tensor, then one byte buffer that the tensors tile exactly.
///
/// Nothing in the file is trusted: every length, offset and shape is checked with overflow-safe
/// arithmetic against the file before anything is allocated, and every error names the tensor.
public enum SafeTensors {
    /// Largest header accepted (the Rust reference reader's limit).
    public static let maxHeaderBytes = 100_000_000

    /// One tensor as described by the header.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range inside the data buffer (which starts at file offset 8 + N).
        public let offsets: Range<Int>
    }

    /// The validated header: entries sorted by offset, metadata, and where the buffer starts.
    public struct Header: Sendable {
        public let entries: [Entry]
        public let metadata: [String: String]
        public let bufferStart: Int
    }

    /// A tensor's dtype, shape and bytes exactly as stored (little-endian, row-major).
    public struct RawTensor: Sendable, Equatable {
        public let dtype: DType
        public let shape: [Int]
        public let bytes: [UInt8]
    }

    /// Reads a .safetensors file (memory-mapped): floats widened to f32, integers kept exactly.
    public static func load(contentsOf url: URL) throws(CheckpointError) -> TensorSet {
        let file = try MappedFile(url)
        return try file.withBytes { (bytes) throws(CheckpointError) -> TensorSet in try parse(bytes) }
    }

    /// Reads a safetensors image held in memory.
    public static func parse(_ bytes: [UInt8]) throws(CheckpointError) -> TensorSet {
        try bytes.withUnsafeBytes { raw in Result { () throws(CheckpointError) in try parse(raw) } }.get()
    }

    public static func parse(_ data: Data) throws(CheckpointError) -> TensorSet {
        try parse([UInt8](data))
    }

    /// Every tensor of the file as stored, without conversion (for fixtures and tools).
    public static func loadRaw(contentsOf url: URL) throws(CheckpointError) -> [String: RawTensor] {
        let file = try MappedFile(url)
        return try file.withBytes { (bytes) throws(CheckpointError) -> [String: RawTensor] in
            let header = try readHeader(bytes)
            var out: [String: RawTensor] = [:]
            for entry in header.entries {
                let start = header.bufferStart + entry.offsets.lowerBound
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + entry.offsets.count)])
                out[entry.name] = RawTensor(dtype: entry.dtype, shape: entry.shape, bytes: [UInt8](slice))
            }
            return out
        }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> TensorSet {
        let header = try readHeader(bytes)
        var set = TensorSet(metadata: header.metadata)
        guard let base = bytes.baseAddress else { return set }   // only an empty file, rejected above
        for entry in header.entries {
            let count = entry.offsets.count / entry.dtype.size
            let start = header.bufferStart + entry.offsets.lowerBound
            if entry.dtype.isFloatingPoint {
                var finite = true
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if let out = buffer.baseAddress {
                        finite = ElementConversion.readFloats(base + start, dtype: entry.dtype, start: 0,
                                                              stride: 1, count: count, into: out)
                    }
                    initialized = count
                }
                guard finite else { throw .nonFinite(entry.name) }
                set[entry.name] = Tensor(shape: entry.shape, storage: values)
            } else {
                var fits = true
                let values = [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if let out = buffer.baseAddress {
                        fits = ElementConversion.readIntegers(base + start, dtype: entry.dtype, start: 0,
                                                              stride: 1, count: count, into: out)
                    }
                    initialized = count
                }
                guard fits else { throw .unsupported("tensor '\(entry.name)': U64 value above Int64.max") }
                set.setInteger(entry.name, IntTensor(shape: entry.shape, values: values))
            }
        }
        return set
    }

    /// Validates the header against the file: known dtypes, shapes, offsets inside the buffer,
    /// byte length = element count × dtype size, and a buffer tiled with no overlap and no hole.
    public static func readHeader(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> Header {
        guard bytes.count >= 8 else {
            throw .malformed("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maxHeaderBytes) else {
            throw .malformed("header length \(declared) exceeds the \(maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw .malformed("header length \(headerLength) runs past the end of the file (\(bytes.count - 8) bytes follow)")
        }
        guard headerLength >= 2, bytes[8] == UInt8(ascii: "{") else {
            throw .malformed("header is not a JSON object")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)]))
        } catch {
            throw .malformed("header JSON: \(error)")
        }
        guard case .object(let members) = json else { throw .malformed("header is not a JSON object") }

        let bufferStart = 8 + headerLength
        let bufferSize = bytes.count - bufferStart
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try parseMetadata(value)
            } else {
                entries.append(try parseEntry(name, value, bufferSize: bufferSize))
            }
        }
        entries.sort { ($0.offsets.lowerBound, $0.offsets.upperBound) < ($1.offsets.lowerBound, $1.offsets.upperBound) }
        var covered = 0
        var previous: Entry?
        for entry in entries {
            if entry.offsets.lowerBound < covered {
                let other = previous.map { "tensor '\($0.name)' \(describe($0.offsets))" } ?? "another tensor"
                throw .malformed("tensor '\(entry.name)' data_offsets \(describe(entry.offsets)) overlap \(other)")
            }
            if entry.offsets.lowerBound > covered {
                throw .malformed("bytes \(covered)..<\(entry.offsets.lowerBound) of the buffer belong to no tensor (a hole before '\(entry.name)')")
            }
            covered = entry.offsets.upperBound
            if !entry.offsets.isEmpty { previous = entry }
        }
        guard covered == bufferSize else {
            throw .malformed("bytes \(covered)..<\(bufferSize) of the buffer belong to no tensor (trailing data)")
        }
        return Header(entries: entries, metadata: metadata, bufferStart: bufferStart)
    }

    private static func describe(_ r: Range<Int>) -> String { "[\(r.lowerBound), \(r.upperBound)]" }

    private static func parseMetadata(_ value: JSONValue) throws(CheckpointError) -> [String: String] {
        guard case .object(let members) = value else {
            throw .malformed("__metadata__ is \(value.typeName), expected an object of strings")
        }
        var out: [String: String] = [:]
        for (key, v) in members {
            guard case .string(let s) = v else {
                throw .malformed("__metadata__ field '\(key)' is \(v.typeName), expected a string")
            }
            out[key] = s
        }
        return out
    }

    private static func parseEntry(_ name: String, _ value: JSONValue,
                                   bufferSize: Int) throws(CheckpointError) -> Entry {
        guard case .object(let fields) = value else {
            throw .malformed("tensor '\(name)' is described by \(value.typeName), expected an object")
        }
        var dtypeField: JSONValue?, shapeField: JSONValue?, offsetsField: JSONValue?
        for (key, v) in fields {
            switch key {
            case "dtype": dtypeField = v
            case "shape": shapeField = v
            case "data_offsets": offsetsField = v
            default: throw .malformed("tensor '\(name)' has unknown field '\(key)'")
            }
        }
        guard case .string(let dtypeName)? = dtypeField else {
            throw .malformed("tensor '\(name)' has no dtype string")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unsupported("tensor '\(name)' has dtype '\(dtypeName)'; supported: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let shape = try integers(shapeField, field: "shape", tensor: name)
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw .malformed("tensor '\(name)' has a negative dimension in shape \(shape)")
        }
        let offsets = try integers(offsetsField, field: "data_offsets", tensor: name)
        guard offsets.count == 2 else {
            throw .malformed("tensor '\(name)' data_offsets has \(offsets.count) values, expected 2")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end else {
            throw .malformed("tensor '\(name)' data_offsets [\(begin), \(end)] are not ordered")
        }
        guard end <= bufferSize else {
            throw .malformed("tensor '\(name)' data_offsets [\(begin), \(end)] end past the \(bufferSize)-byte buffer")
        }
        guard let count = Checked.elementCount(shape), let byteCount = Checked.multiply(count, dtype.size) else {
            throw .malformed("tensor '\(name)' shape \(shape) overflows")
        }
        guard byteCount == end - begin else {
            throw .malformed("tensor '\(name)' shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes, data_offsets give \(end - begin)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, offsets: begin..<end)
    }

    private static func integers(_ value: JSONValue?, field: String,
                                 tensor: String) throws(CheckpointError) -> [Int] {
        guard case .array(let items)? = value else {
            throw .malformed("tensor '\(tensor)' has no \(field) array")
        }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard case .int(let v) = item else {
                throw .malformed("tensor '\(tensor)' \(field) holds \(item.typeName) that is not an integer in range")
            }
            out.append(v)
        }
        return out
    }
}
