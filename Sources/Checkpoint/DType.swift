/// Element types that checkpoints store. Raw values are the safetensors dtype strings.
public enum DType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16", u32 = "U32", i32 = "I32"
    case u64 = "U64", i64 = "I64"
    case f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8: 1
        case .u16, .i16, .f16, .bf16: 2
        case .u32, .i32, .f32: 4
        case .u64, .i64, .f64: 8
        }
    }

    /// Floating-point types are widened to f32 into `TensorSet.tensors`; the others are read
    /// exactly into `TensorSet.integers`.
    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64: true
        default: false
        }
    }
}

/// Conversions between stored element encodings (little-endian) and f32 / Int64.
/// Callers check every range before calling: these functions trust their arguments.
enum ElementConversion {
    /// f16 bit pattern to f32, exact (every f16 is an f32).
    static let halfTable: [Float] = (0...0xFFFF).map { floatFromHalf(UInt16($0)) }

    static func floatFromHalf(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * (1.0 / 16_777_216.0)   // subnormal: m × 2^-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// f32 to f16, round to nearest even; overflow gives infinity, NaN stays NaN.
    static func halfFromFloat(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xFF)
        var mantissa = x & 0x7F_FFFF
        if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }
        let e = exponent - 127 + 15
        if e >= 31 { return sign | 0x7C00 }
        if e <= 0 {
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mantissa >> shift
            let rest = mantissa & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if rest > halfway || (rest == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }

    /// f32 to bf16, round to nearest even; NaN stays NaN.
    static func bfloatFromFloat(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        if f.isNaN { return UInt16(truncatingIfNeeded: x >> 16) | 0x0040 }
        let rounded = x &+ 0x7FFF &+ ((x >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// Reads `count` elements of the floating-point `dtype`, the first at element index `start`,
    /// then every `stride` elements, into `out` as f32. Returns false if any value is not finite.
    static func readFloats(_ base: UnsafeRawPointer, dtype: DType, start: Int, stride: Int, count: Int,
                           into out: UnsafeMutablePointer<Float>) -> Bool {
        var finite = true
        let size = dtype.size
        var at = start * size
        let step = stride * size
        switch dtype {
        case .f32:
            if stride == 1 {
                UnsafeMutableRawPointer(out).copyMemory(from: base + at, byteCount: count * 4)
                for i in 0..<count where !out[i].isFinite { finite = false; break }
                return finite
            }
            for i in 0..<count {
                let v = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                out[i] = v
                finite = finite && v.isFinite
                at += step
            }
        case .f16:
            halfTable.withUnsafeBufferPointer { table in
                for i in 0..<count {
                    let v = table[Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt16.self)))]
                    out[i] = v
                    finite = finite && v.isFinite
                    at += step
                }
            }
        case .bf16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
                let v = Float(bitPattern: bits << 16)
                out[i] = v
                finite = finite && v.isFinite
                at += step
            }
        case .f64:
            for i in 0..<count {
                let d = Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                let v = Float(d)
                out[i] = v
                finite = finite && v.isFinite
                at += step
            }
        default:
            preconditionFailure("readFloats called with \(dtype)")
        }
        return finite
    }

    /// Reads `count` integer elements (strided as in `readFloats`) into `out`.
    /// Returns false if a U64 value does not fit in Int64.
    static func readIntegers(_ base: UnsafeRawPointer, dtype: DType, start: Int, stride: Int, count: Int,
                             into out: UnsafeMutablePointer<Int64>) -> Bool {
        let size = dtype.size
        var at = start * size
        let step = stride * size
        func each(_ read: (Int) -> Int64) {
            for i in 0..<count {
                out[i] = read(at)
                at += step
            }
        }
        switch dtype {
        case .bool: each { Int64(base.load(fromByteOffset: $0, as: UInt8.self) != 0 ? 1 : 0) }
        case .u8: each { Int64(base.load(fromByteOffset: $0, as: UInt8.self)) }
        case .i8: each { Int64(base.load(fromByteOffset: $0, as: Int8.self)) }
        case .u16: each { Int64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: UInt16.self))) }
        case .i16: each { Int64(Int16(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: Int16.self))) }
        case .u32: each { Int64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: UInt32.self))) }
        case .i32: each { Int64(Int32(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: Int32.self))) }
        case .i64: each { Int64(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: Int64.self)) }
        case .u64:
            var fits = true
            each {
                let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: $0, as: UInt64.self))
                if v > UInt64(Int64.max) { fits = false }
                return Int64(truncatingIfNeeded: v)
            }
            return fits
        default:
            preconditionFailure("readIntegers called with \(dtype)")
        }
        return true
    }
}

/// Overflow-safe size arithmetic for values read from files.
enum Checked {
    /// Product of the dimensions, or nil if a dimension is negative or the product overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { return nil }
            n = p
        }
        return n
    }

    static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : p
    }

    static func add(_ a: Int, _ b: Int) -> Int? {
        let (s, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : s
    }
}
