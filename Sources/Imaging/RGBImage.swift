/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, interleaved R, G, B, rows
/// top-down with no padding.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public let pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "negative image size \(width) x \(height)")
        precondition(pixels.count == width * height * 3,
                     "\(width) x \(height) RGB needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width` x `height` image with every channel set to `value`.
    public init(width: Int, height: Int, filledWith value: UInt8 = 0) {
        self.init(width: width, height: height,
                  pixels: [UInt8](repeating: value, count: width * height * 3))
    }

    public var pixelCount: Int { width * height }

    /// The R, G, B bytes of the pixel at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}

/// The image file formats vqtok reads and writes.
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    case png
    case jpeg

    /// The media type for HTTP `Content-Type`.
    public var mediaType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        }
    }
}

/// Why an image could not be read or written.
public enum ImageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are neither PNG nor JPEG (by their signature), or use a variant that is not read.
    case unsupportedFormat(String)
    /// The file claims to be PNG or JPEG but cannot be read: truncated, damaged or hostile.
    case corrupt(String)
    /// The image has more pixels than the caller allows; found from the header, before decoding.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// No bytes at all, or an image with a zero dimension.
    case empty

    public var description: String {
        switch self {
        case .unsupportedFormat(let detail):
            "unsupported image format: \(detail)"
        case .corrupt(let detail):
            "corrupt image: \(detail)"
        case .tooLarge(let width, let height, let limit):
            "image of \(width) x \(height) = \(width * height) pixels exceeds the limit of \(limit) pixels"
        case .empty:
            "empty image"
        }
    }
}
