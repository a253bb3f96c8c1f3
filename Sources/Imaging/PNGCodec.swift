import CLibPNG

/// PNG through libpng's simplified API, which reports errors in `png_image.message` instead of
/// calling abort() as the classic API does.
///
/// Reading: every PNG variant (gray, gray+alpha, palette with or without tRNS, RGB, RGBA; 1 to 16
/// bits) becomes RGB8. Alpha is **dropped, not composited**: the color channels are kept as stored,
/// which is what PIL's `Image.convert("RGB")` does and therefore what the reference
/// preprocessing sees. 16-bit channels are scaled to 8 bits by libpng (v * 255 / 65535,
/// rounded; PIL keeps the high byte, so the two differ by at most one level). 16-bit files
/// without gAMA/sRGB chunks are taken as sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB), so no gamma
/// curve is applied to them; libpng still honours an explicit gAMA chunk far from sRGB, which PIL
/// ignores.
enum PNGCodec {
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws -> RGBImage {
        var image = png_image()
        image.version = VQ_PNG_IMAGE_VERSION
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
            throw ImageError.corrupt("PNG: \(message(of: &image))")
        }
        defer { png_image_free(&image) }
        let width = Int(image.width), height = Int(image.height)
        guard width > 0, height > 0 else { throw ImageError.empty }
        guard width.multipliedReportingOverflow(by: height).partialValue <= maxPixels else {
            throw ImageError.tooLarge(width: width, height: height, limit: maxPixels)
        }
        let hasAlpha = image.format & VQ_PNG_FORMAT_FLAG_ALPHA != 0
        let channels = hasAlpha ? 4 : 3
        image.format = hasAlpha ? VQ_PNG_FORMAT_RGBA : VQ_PNG_FORMAT_RGB
        image.flags |= VQ_PNG_IMAGE_FLAG_16BIT_sRGB
        var buffer = [UInt8](repeating: 0, count: width * height * channels)
        let ok = buffer.withUnsafeMutableBytes { out in
            png_image_finish_read(&image, nil, out.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw ImageError.corrupt("PNG: \(message(of: &image))") }
        if !hasAlpha {
            return RGBImage(width: width, height: height, pixels: buffer)
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var dst = rgb.mutableSpan
        let src = buffer.span
        for p in 0..<(width * height) {
            dst[3 * p] = src[4 * p]
            dst[3 * p + 1] = src[4 * p + 1]
            dst[3 * p + 2] = src[4 * p + 2]
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    static func encode(_ rgb: RGBImage, fast: Bool) throws -> [UInt8] {
        guard rgb.width > 0, rgb.height > 0 else { throw ImageError.empty }
        guard rgb.width <= 0x7FFF_FFFF, rgb.height <= 0x7FFF_FFFF else {
            throw ImageError.tooLarge(width: rgb.width, height: rgb.height, limit: 0x7FFF_FFFF)
        }
        var image = png_image()
        image.version = VQ_PNG_IMAGE_VERSION
        image.width = UInt32(rgb.width)
        image.height = UInt32(rgb.height)
        image.format = VQ_PNG_FORMAT_RGB
        if fast { image.flags |= VQ_PNG_IMAGE_FLAG_FAST }
        var size = vq_png_image_png_size_max(&image)
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            rgb.pixels.withUnsafeBytes { src in
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, src.baseAddress, 0, nil)
            }
        }
        defer { png_image_free(&image) }
        guard ok != 0, size <= out.count else {
            throw ImageError.corrupt("PNG encoding failed: \(message(of: &image))")
        }
        out.removeLast(out.count - size)
        return out
    }

    /// libpng's error text, a NUL-terminated char[64] inside the struct.
    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
