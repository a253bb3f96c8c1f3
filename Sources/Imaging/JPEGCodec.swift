import CJPEGShim

/// JPEG through libjpeg-turbo, entirely inside the C shim (Sources/CJPEGShim), which owns the
/// setjmp/longjmp error handling that libjpeg requires.
///
/// Reading: YCbCr, RGB and grayscale files become RGB8 (gray replicated, as PIL's
/// `convert("RGB")`); CMYK and YCCK files are taken as Adobe-inverted (as PIL assumes) and
/// converted with PIL's integer CMYK->RGB formula. A file whose data ends before its EOI marker
/// is corrupt, as PIL says too (libjpeg alone would only warn and fill the rest with gray).
/// Other damage libjpeg recovers from (a corrupt entropy segment) decodes, as in PIL.
/// Progressive files with more than 500 scans are refused (a known CPU-exhaustion vector).
/// libjpeg's unsupported features (lossless, 12-bit) are `unsupportedFormat`.
enum JPEGCodec {
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws -> RGBImage {
        var out = vq_jpeg_decoded()
        let limit = UInt64(max(maxPixels, 1))
        let code = bytes.withMemoryRebound(to: UInt8.self) { data in
            vq_jpeg_decode(data.baseAddress, data.count, limit, &out)
        }
        defer { vq_jpeg_free(out.pixels) }
        let detail = message(of: &out)
        switch Int(code) {
        case Int(VQ_JPEG_OK):
            break
        case Int(VQ_JPEG_TOO_LARGE):
            throw ImageError.tooLarge(width: Int(out.width), height: Int(out.height), limit: maxPixels)
        case Int(VQ_JPEG_UNSUPPORTED):
            throw ImageError.unsupportedFormat("JPEG: \(detail)")
        default:
            throw ImageError.corrupt("JPEG: \(detail)")
        }
        let width = Int(out.width), height = Int(out.height)
        guard let pixels = out.pixels, width > 0, height > 0 else { throw ImageError.empty }
        let rgb = Array(UnsafeBufferPointer(start: pixels, count: width * height * 3))
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    static func encode(_ rgb: RGBImage, quality: Int) throws -> [UInt8] {
        guard rgb.width > 0, rgb.height > 0 else { throw ImageError.empty }
        guard rgb.width <= 65_500, rgb.height <= 65_500 else {
            throw ImageError.tooLarge(width: rgb.width, height: rgb.height, limit: 65_500 * 65_500)
        }
        precondition((1...100).contains(quality), "JPEG quality \(quality) is outside 1...100")
        var out = vq_jpeg_encoded()
        let code = rgb.pixels.withUnsafeBufferPointer { src in
            vq_jpeg_encode(src.baseAddress, UInt32(rgb.width), UInt32(rgb.height), Int32(quality), &out)
        }
        defer { vq_jpeg_free(out.bytes) }
        guard code == VQ_JPEG_OK, let bytes = out.bytes else {
            throw ImageError.corrupt("JPEG encoding failed: \(message(of: &out))")
        }
        return Array(UnsafeBufferPointer(start: bytes, count: out.size))
    }

    private static func message(of out: inout vq_jpeg_decoded) -> String {
        withUnsafeBytes(of: &out.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func message(of out: inout vq_jpeg_encoded) -> String {
        withUnsafeBytes(of: &out.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
