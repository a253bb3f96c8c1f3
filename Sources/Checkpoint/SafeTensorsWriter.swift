import Foundation
import Tensor

extension SafeTensors {
    /// Writes `set` as a .safetensors file: float tensors in `dtype` (.f32, .f16 or .bf16, rounded
    /// to nearest even), integer tensors in `integerDType` (.i64 or .i32). Names are sorted, the
    /// header is padded with spaces to a multiple of 8. `metadata` defaults to `set.metadata`.
    public static func write(_ set: TensorSet, dtype: DType = .f32, integerDType: DType = .i64,
                             metadata: [String: String]? = nil, to url: URL) throws(CheckpointError) {
        let bytes = try serialize(set, dtype: dtype, integerDType: integerDType, metadata: metadata)
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw .io("\(url.path): \(error.localizedDescription)")
        }
    }

    public static func write(_ tensors: [String: Tensor], dtype: DType = .f32,
                             metadata: [String: String] = [:], to url: URL) throws(CheckpointError) {
        try write(TensorSet(tensors), dtype: dtype, metadata: metadata, to: url)
    }

    /// The file image `write` would produce.
    public static func serialize(_ set: TensorSet, dtype: DType = .f32, integerDType: DType = .i64,
                                 metadata: [String: String]? = nil) throws(CheckpointError) -> [UInt8] {
        guard [.f32, .f16, .bf16].contains(dtype) else {
            throw .unsupported("writing float tensors as \(dtype.rawValue); use F32, F16 or BF16")
        }
        guard [.i64, .i32].contains(integerDType) else {
            throw .unsupported("writing integer tensors as \(integerDType.rawValue); use I64 or I32")
        }
        var header: [String] = []
        let meta = metadata ?? set.metadata
        if !meta.isEmpty {
            let fields = meta.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(meta[$0]!))" }
            header.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var data: [UInt8] = []
        let names = (Array(set.tensors.keys) + Array(set.integers.keys)).sorted()
        for name in names {
            let begin = data.count
            let shape: [Int]
            let entryType: DType
            if let tensor = set[name] {
                shape = tensor.shape
                entryType = dtype
                appendFloats(tensor.storage, as: dtype, to: &data)
            } else if let ints = set.integerTensor(name) {
                shape = ints.shape
                entryType = integerDType
                for v in ints.values {
                    if integerDType == .i32 {
                        guard let narrow = Int32(exactly: v) else {
                            throw .unsupported("tensor '\(name)' value \(v) does not fit in I32")
                        }
                        withUnsafeBytes(of: narrow.littleEndian) { data.append(contentsOf: $0) }
                    } else {
                        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
                    }
                }
            } else {
                continue
            }
            let dims = shape.map(String.init).joined(separator: ",")
            header.append("\(JSONText.quoted(name)):{\"dtype\":\"\(entryType.rawValue)\",\"shape\":[\(dims)],\"data_offsets\":[\(begin),\(data.count)]}")
        }
        var json = Array("{\(header.joined(separator: ","))}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + data.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        out.append(contentsOf: data)
        return out
    }

    private static func appendFloats(_ values: [Float], as dtype: DType, to data: inout [UInt8]) {
        data.reserveCapacity(data.count + values.count * dtype.size)
        for v in values {
            switch dtype {
            case .f16: withUnsafeBytes(of: ElementConversion.halfFromFloat(v).littleEndian) { data.append(contentsOf: $0) }
            case .bf16: withUnsafeBytes(of: ElementConversion.bfloatFromFloat(v).littleEndian) { data.append(contentsOf: $0) }
            default: withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
            }
        }
    }
}
