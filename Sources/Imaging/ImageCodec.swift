import Foundation

/// Reading and writing PNG and JPEG files. All entry points are thread-safe (no shared state).
///
/// Malformed input of any kind (truncated, damaged, hostile sizes, not an image) ends in a thrown
/// `ImageError`, never in a crash or an exit.
public enum ImageCodec {
    /// The pixel limit `decode` applies when the caller gives none (about 40 megapixels; an
    /// 8-bit RGB image of that size takes 120 MB).
    public static let defaultMaxPixels = 40_000_000

    /// The hard ceiling on decoded pixels whatever limit a caller passes (2^28, an RGB buffer of
    /// 805 MB), so that a hostile header can never size an allocation.
    public static let maximumSupportedPixels = 1 << 28

    /// Reads the format and size from the header only (PNG IHDR, JPEG SOFn), decoding no pixel
    /// data, so a server can refuse an oversized image before spending memory on it.
    /// Throws `.tooLarge` when `maxPixels` is given and exceeded.
    public static func probe(_ bytes: some ContiguousBytes, maxPixels: Int? = nil) throws -> ImageHeader {
        let header = try bytes.withUnsafeBytes { try HeaderParser.parse($0) }
        if let maxPixels, header.pixelCount > maxPixels {
            throw ImageError.tooLarge(width: header.width, height: header.height, limit: maxPixels)
        }
        return header
    }

    /// The format by signature alone (no validation), or nil.
    public static func sniff(_ bytes: some ContiguousBytes) -> ImageFormat? {
        bytes.withUnsafeBytes { HeaderParser.sniff($0) }
    }

    /// Decodes a PNG or JPEG file to RGB8. The header is checked against `maxPixels` before any
    /// pixel memory is allocated. See `PNGCodec` and `JPEGCodec` for how each variant maps to RGB
    /// (in short: alpha dropped, gray replicated, 16-bit scaled to 8). Like PIL's
    /// `Image.open(f).convert("RGB")`, which the reference uses, it ignores EXIF orientation and
    /// embedded ICC profiles: the stored pixels are returned as they are.
    public static func decode(_ bytes: some ContiguousBytes,
                              maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let maxPixels = min(maxPixels, maximumSupportedPixels)
        return try bytes.withUnsafeBytes { raw in
            let header = try HeaderParser.parse(raw)
            guard header.pixelCount <= maxPixels else {
                throw ImageError.tooLarge(width: header.width, height: header.height, limit: maxPixels)
            }
            switch header.format {
            case .png: return try PNGCodec.decode(raw, maxPixels: maxPixels)
            case .jpeg: return try JPEGCodec.decode(raw, maxPixels: maxPixels)
            }
        }
    }

    /// Encodes as PNG (8-bit RGB). Lossless. `fast` trades size for speed (libpng's
    /// PNG_IMAGE_FLAG_FAST: files about 25% larger, written about twice as fast).
    public static func encodePNG(_ image: RGBImage, fast: Bool = false) throws -> [UInt8] {
        try PNGCodec.encode(image, fast: fast)
    }

    /// Encodes as baseline JPEG, 4:2:0 chroma subsampling, libjpeg's standard tables scaled to
    /// `quality` (1...100; outside that range is a programming error).
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 90) throws -> [UInt8] {
        try JPEGCodec.encode(image, quality: quality)
    }

    /// Encodes in `format`; `quality` applies to JPEG only.
    public static func encode(_ image: RGBImage, as format: ImageFormat,
                              quality: Int = 90) throws -> [UInt8] {
        switch format {
        case .png: try encodePNG(image)
        case .jpeg: try encodeJPEG(image, quality: quality)
        }
    }
}
