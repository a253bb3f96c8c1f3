/// What an image file's header says, read without decoding any pixel data.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    public let width: Int
    public let height: Int

    public init(format: ImageFormat, width: Int, height: Int) {
        self.format = format
        self.width = width
        self.height = height
    }

    public var pixelCount: Int { width * height }
}

/// Header parsing for PNG (signature + IHDR) and JPEG (markers up to the first SOFn).
enum HeaderParser {
    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The format by signature alone, or nil.
    static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 8, zip(bytes.prefix(8), pngSignature).allSatisfy({ $0 == $1 }) {
            return .png
        }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            return .jpeg
        }
        return nil
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> ImageHeader {
        if bytes.isEmpty { throw ImageError.empty }
        switch sniff(bytes) {
        case .png: return try parsePNG(bytes)
        case .jpeg: return try parseJPEG(bytes)
        case nil:
            let shown = bytes.prefix(8).map { String($0, radix: 16) }.joined(separator: " ")
            throw ImageError.unsupportedFormat("not PNG or JPEG (first bytes: \(shown))")
        }
    }

    private static func be32(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
    }

    private static func be16(_ b: UnsafeRawBufferPointer, _ i: Int) -> Int {
        Int(b[i]) << 8 | Int(b[i + 1])
    }

    /// PNG: the signature is followed by the IHDR chunk, length 13: width, height (4 bytes each,
    /// big-endian, 1...2^31-1), bit depth, color type, compression, filter, interlace.
    private static func parsePNG(_ b: UnsafeRawBufferPointer) throws -> ImageHeader {
        guard b.count >= 8 + 8 + 13 else { throw ImageError.corrupt("PNG ends inside its IHDR chunk") }
        let isIHDR = b[12] == 0x49 && b[13] == 0x48 && b[14] == 0x44 && b[15] == 0x52
        guard isIHDR, be32(b, 8) == 13 else {
            throw ImageError.corrupt("PNG does not start with a 13-byte IHDR chunk")
        }
        let width = be32(b, 16), height = be32(b, 20)
        guard width > 0, height > 0 else {
            throw ImageError.corrupt("PNG declares a size of \(width) x \(height)")
        }
        guard width <= 0x7FFF_FFFF, height <= 0x7FFF_FFFF else {
            throw ImageError.corrupt("PNG declares a size of \(width) x \(height), beyond 2^31-1")
        }
        return ImageHeader(format: .png, width: width, height: height)
    }

    /// JPEG: after SOI, walk marker segments (each `FF xx` then a 2-byte length that counts itself)
    /// until a start-of-frame marker, whose segment holds precision, height, width, components.
    private static func parseJPEG(_ b: UnsafeRawBufferPointer) throws -> ImageHeader {
        var i = 2
        while true {
            // Find the next marker; any number of 0xFF fill bytes may precede its code.
            guard i < b.count, b[i] == 0xFF else {
                throw i >= b.count ? ImageError.corrupt("JPEG ends before its frame header")
                    : ImageError.corrupt("JPEG marker expected at byte \(i)")
            }
            while i < b.count, b[i] == 0xFF { i += 1 }
            guard i < b.count else { throw ImageError.corrupt("JPEG ends before its frame header") }
            let marker = b[i]
            i += 1
            switch marker {
            case 0xD8, 0x01, 0xD0...0xD7:
                continue  // standalone markers without a length
            case 0xD9:
                throw ImageError.corrupt("JPEG ends (EOI) before a frame header")
            case 0xDA:
                throw ImageError.corrupt("JPEG scan data (SOS) before a frame header")
            default:
                break
            }
            guard i + 2 <= b.count else { throw ImageError.corrupt("JPEG ends inside a marker segment") }
            let length = be16(b, i)
            guard length >= 2 else { throw ImageError.corrupt("JPEG marker segment of length \(length)") }
            let isSOF = (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker)
            if isSOF {
                guard length >= 8, i + 8 <= b.count else {
                    throw ImageError.corrupt("JPEG ends inside its frame header")
                }
                let height = be16(b, i + 3), width = be16(b, i + 5)
                guard width > 0, height > 0 else {
                    throw ImageError.corrupt("JPEG declares a size of \(width) x \(height)")
                }
                return ImageHeader(format: .jpeg, width: width, height: height)
            }
            i += length
        }
    }
}
