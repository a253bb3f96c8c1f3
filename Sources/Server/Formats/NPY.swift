/// numpy's `.npy` format (format versions 1.0, 2.0 and 3.0), for integer arrays:
/// little-endian, C order. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
enum NPYDType: String, Sendable, CaseIterable {
    case uint8 = "|u1", int8 = "|i1"
    case uint16 = "<u2", int16 = "<i2"
    case uint32 = "<u4", int32 = "<i4"
    case uint64 = "<u8", int64 = "<i8"

    var width: Int {
        switch self {
        case .uint8, .int8: 1
        case .uint16, .int16: 2
        case .uint32, .int32: 4
        case .uint64, .int64: 8
        }
    }

    /// The descr numpy may also write for one-byte types and native order.
    init?(descr: String) {
        let aliases = ["<u1": "|u1", "<i1": "|i1", "=u2": "<u2", "=i2": "<i2", "=u4": "<u4", "=i4": "<i4",
                       "=u8": "<u8", "=i8": "<i8", "u1": "|u1", "i1": "|i1"]
        guard let dtype = NPYDType(rawValue: aliases[descr] ?? descr) else { return nil }
        self = dtype
    }

    /// Reads element `i` of `bytes` (little-endian).
    @inline(__always)
    func load(_ bytes: UnsafeRawBufferPointer, _ i: Int) -> Int64 {
        switch self {
        case .uint8: Int64(bytes[i])
        case .int8: Int64(Int8(bitPattern: bytes[i]))
        case .uint16: Int64(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        case .int16: Int64(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
        case .uint32: Int64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        case .int32: Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
        case .uint64:
            // Values past Int64.max are out of any codebook's range; clamp so the range check names them.
            Int64(clamping: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .int64: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        }
    }
}

struct NPYArray: Sendable, Equatable {
    var shape: [Int]
    var dtype: NPYDType
    var values: [Int64]
}

enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    static let mediaType = "application/x-npy"

    /// An .npy file holding `values` (row-major) as `dtype`; version 1.0 unless the header needs 2.0.
    static func encode(shape: [Int], dtype: IdDType, values: [Int32]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the value count")
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(dtype.npy.rawValue)', 'fortran_order': False, 'shape': (\(dims)), }"
        let lengthBytes = header.utf8.count + 1 + 10 > 0xFFFF ? 4 : 2
        let preamble = magic.count + 2 + lengthBytes
        let padding = (64 - (preamble + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        let headerLength = header.utf8.count
        var out = [UInt8]()
        out.reserveCapacity(preamble + headerLength + values.count * dtype.byteWidth)
        out += magic
        out += lengthBytes == 2 ? [1, 0] : [2, 0]
        for k in 0..<lengthBytes { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * k))) }
        out += header.utf8
        RawIds.append(values, as: dtype, to: &out)
        return out
    }

    /// Reads an integer .npy file. Errors are 400 for a malformed file and 422 for a file that is
    /// well formed but does not hold integers in C order.
    static func decode(_ bytes: [UInt8]) throws(ServiceError) -> NPYArray {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw .badRequest("the body is not a .npy file (it does not start with \\x93NUMPY)")
        }
        let major = bytes[6]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw .badRequest(".npy format version \(major).\(bytes[7]) is not supported (1.0, 2.0, 3.0 are)")
        }
        guard bytes.count >= 8 + lengthBytes else { throw .badRequest("the .npy header is truncated") }
        var headerLength = 0
        for k in 0..<lengthBytes { headerLength |= Int(bytes[8 + k]) << (8 * k) }
        let dataStart = 8 + lengthBytes + headerLength
        guard dataStart <= bytes.count else { throw .badRequest("the .npy header is truncated") }
        let text = String(decoding: bytes[(8 + lengthBytes)..<dataStart], as: UTF8.self)
        let header = try NPYHeader.parse(text)
        guard !header.fortranOrder else {
            throw .invalidIds("the .npy array is in Fortran order; send a C-ordered array (np.ascontiguousarray)")
        }
        guard let dtype = NPYDType(descr: header.descr) else {
            throw .invalidIds("the .npy array has dtype '\(header.descr)'; ids must be integers "
                + "(little-endian uint8, uint16, uint32, int32 or int64)")
        }
        let available = bytes.count - dataStart
        var count = 1
        for d in header.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= available else {
                throw .badRequest("the .npy array of shape \(header.shape) is larger than the body (\(available) bytes of data)")
            }
            count = product
        }
        guard available == count * dtype.width else {
            throw .badRequest("the .npy array of shape \(header.shape) needs \(count * dtype.width) bytes of data, "
                + "the body has \(available)")
        }
        let values = bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            return (0..<count).map { dtype.load(data, $0) }
        }
        return NPYArray(shape: header.shape, dtype: dtype, values: values)
    }
}

/// The header of an .npy file: a Python dict literal with 'descr', 'fortran_order' and 'shape'.
struct NPYHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    static func parse(_ text: String) throws(ServiceError) -> NPYHeader {
        var scanner = LiteralScanner(text)
        var descr: String?, fortran: Bool?, shape: [Int]?
        try scanner.take("{")
        while !scanner.consume("}") {
            let key = try scanner.string()
            try scanner.take(":")
            switch key {
            case "descr": descr = try scanner.string()
            case "fortran_order": fortran = try scanner.bool()
            case "shape": shape = try scanner.tuple()
            default: throw .badRequest("the .npy header has an unknown key '\(key)'")
            }
            if !scanner.consume(",") { try scanner.take("}"); break }
        }
        guard let descr, let fortran, let shape else {
            throw .badRequest("the .npy header lacks one of 'descr', 'fortran_order', 'shape'")
        }
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }
}

/// Just enough of Python's literal syntax for .npy headers.
private struct LiteralScanner {
    private let chars: [Character]
    private var i = 0

    init(_ text: String) { chars = Array(text) }

    private mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    private func malformed() -> ServiceError { .badRequest("the .npy header is malformed near character \(i)") }

    mutating func consume(_ c: Character) -> Bool {
        skipSpace()
        guard i < chars.count, chars[i] == c else { return false }
        i += 1
        return true
    }

    mutating func take(_ c: Character) throws(ServiceError) {
        guard consume(c) else { throw malformed() }
    }

    mutating func string() throws(ServiceError) -> String {
        skipSpace()
        guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else { throw malformed() }
        let quote = chars[i]
        i += 1
        let start = i
        while i < chars.count, chars[i] != quote { i += 1 }
        guard i < chars.count else { throw malformed() }
        defer { i += 1 }
        return String(chars[start..<i])
    }

    mutating func bool() throws(ServiceError) -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] where chars[i...].starts(with: word) {
            i += word.count
            return value
        }
        throw malformed()
    }

    mutating func tuple() throws(ServiceError) -> [Int] {
        try take("(")
        var dims: [Int] = []
        while !consume(")") {
            skipSpace()
            let start = i
            while i < chars.count, chars[i].isNumber { i += 1 }
            guard let d = Int(String(chars[start..<i])), d >= 0 else { throw malformed() }
            _ = consume("L")
            dims.append(d)
            if !consume(",") { try take(")"); break }
        }
        return dims
    }
}
