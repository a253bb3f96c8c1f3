import Foundation
import Tensor

/// A safetensors file read one tensor at a time, for building a model without holding the
/// whole checkpoint twice.
///
/// The header is validated when the file opens (as `SafeTensors.load` does). A tensor is read
/// only when asked for: widened to f32, checked finite, and its bytes then released from the
/// mapping, so that while a model is built the resident size grows by what the model keeps
/// rather than by the file plus its f32 copy.
public final class SafeTensorsFile {
    private let file: MappedFile
    private let entries: [String: SafeTensors.Entry]
    private let bufferStart: Int
    public let metadata: [String: String]

    public init(contentsOf url: URL) throws(CheckpointError) {
        file = try MappedFile(url)
        let header = try file.withBytes { (bytes) throws(CheckpointError) -> SafeTensors.Header in
            try SafeTensors.readHeader(bytes)
        }
        var entries: [String: SafeTensors.Entry] = [:]
        for entry in header.entries { entries[entry.name] = entry }
        self.entries = entries
        bufferStart = header.bufferStart
        metadata = header.metadata
    }

    /// Every tensor name, sorted.
    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The floating-point tensor `name` as f32, checked against `shape` and for NaN/inf.
    public func require(_ name: String, shape: [Int]) throws(CheckpointError) -> Tensor {
        let entry = try floatEntry(name, shape: shape)
        let rows = shape.first ?? 1
        return Tensor(shape: shape, storage: try readRows(entry, 0..<(shape.isEmpty ? 1 : rows)))
    }

    /// Rows `rows` of the floating-point tensor `name` (along its first dimension), checked as
    /// `require` checks the whole: [rows.count, shape[1...]].
    public func requireRows(_ name: String, shape: [Int], rows: Range<Int>) throws(CheckpointError) -> Tensor {
        let entry = try floatEntry(name, shape: shape)
        precondition(!shape.isEmpty && rows.lowerBound >= 0 && rows.upperBound <= shape[0],
                     "requireRows: rows \(rows) outside \(shape)")
        return Tensor(shape: [rows.count] + shape.dropFirst(), storage: try readRows(entry, rows))
    }

    private func floatEntry(_ name: String, shape: [Int]) throws(CheckpointError) -> SafeTensors.Entry {
        guard let entry = entries[name] else { throw .missingTensor(name) }
        guard entry.dtype.isFloatingPoint else { throw .unsupported("tensor '\(name)' holds integers, expected floats") }
        guard entry.shape == shape else { throw .shapeMismatch(name, expected: shape, actual: entry.shape) }
        return entry
    }

    /// Rows of `entry` widened to f32; their bytes are released from the mapping afterwards.
    private func readRows(_ entry: SafeTensors.Entry, _ rows: Range<Int>) throws(CheckpointError) -> [Float] {
        let rowCount = entry.shape.isEmpty ? 1 : entry.shape[0]
        let perRow = rowCount == 0 ? 0 : entry.offsets.count / entry.dtype.size / rowCount
        let count = rows.count * perRow
        let start = bufferStart + entry.offsets.lowerBound + rows.lowerBound * perRow * entry.dtype.size
        var finite = true
        let values = file.withBytes { bytes in
            [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let out = buffer.baseAddress, let base = bytes.baseAddress {
                    finite = ElementConversion.readFloats(base + start, dtype: entry.dtype, start: 0, stride: 1,
                                                          count: count, into: out)
                }
                initialized = count
            }
        }
        file.release(start..<(start + count * entry.dtype.size))
        guard finite else { throw .nonFinite(entry.name) }
        return values
    }
}
