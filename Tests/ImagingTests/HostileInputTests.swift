import TestSupport
import XCTest
@testable import Imaging

/// Truncated, damaged and hostile files end in a thrown `ImageError`, never in a crash or exit.
final class HostileInputTests: XCTestCase {
    func testEmptyInputThrowsEmpty() {
        XCTAssertThrowsImageError(try ImageCodec.decode([UInt8]()), "empty") { $0 == .empty }
        XCTAssertThrowsImageError(try ImageCodec.probe([UInt8]()), "empty") { $0 == .empty }
    }

    func testRandomBytesThrowUnsupportedFormat() {
        var generator = SplitMix64(seed: 42)
        for length in [1, 2, 7, 100, 10_000] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            XCTAssertThrowsImageError(try ImageCodec.decode(bytes), "unsupported") { $0.isUnsupported }
        }
    }

    func testWrongMagicThrowsUnsupportedFormat() throws {
        var png = try Fixture.bytes("palette.png")
        png[3] = UInt8(ascii: "X")  // \x89PNX
        XCTAssertThrowsImageError(try ImageCodec.decode(png), "unsupported") { $0.isUnsupported }
        let gif = Array("GIF89a".utf8) + [UInt8](repeating: 0, count: 20)
        XCTAssertThrowsImageError(try ImageCodec.probe(gif), "unsupported") { $0.isUnsupported }
        XCTAssertNil(ImageCodec.sniff(gif))
    }

    func testGarbageAfterMagicThrowsCorrupt() {
        var generator = SplitMix64(seed: 7)
        let garbage = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        XCTAssertThrowsImageError(try ImageCodec.decode(HeaderParser.pngSignature + garbage), "corrupt") {
            $0.isCorrupt
        }
        XCTAssertThrowsImageError(try ImageCodec.decode([0xFF, 0xD8, 0xFF] + garbage), "corrupt") {
            $0.isCorrupt
        }
        // A valid header followed by garbage in place of the compressed data.
        let header = pngHeader(width: 16, height: 16)
        XCTAssertThrowsImageError(try ImageCodec.decode(header + chunk("IDAT", garbage)), "corrupt") {
            $0.isCorrupt
        }
    }

    func testTruncatedPNGThrowsCorrupt() throws {
        let png = try Fixture.bytes("chelsea.png")
        for fraction in [0.1, 0.5, 0.99] {
            let cut = Array(png.prefix(Int(Double(png.count) * fraction)))
            XCTAssertThrowsImageError(try ImageCodec.decode(cut), "corrupt") { $0.isCorrupt }
        }
    }

    func testTruncatedJPEGThrowsCorruptInsteadOfPaddingWithGray() throws {
        for name in ["coffee_q90.jpg", "chelsea_gray_q90.jpg", "chelsea_cmyk_q90.jpg"] {
            let jpeg = try Fixture.bytes(name)
            for fraction in [0.02, 0.3, 0.6, 0.95] {
                let cut = Array(jpeg.prefix(Int(Double(jpeg.count) * fraction)))
                XCTAssertThrowsImageError(try ImageCodec.decode(cut), "corrupt \(name) at \(fraction)") {
                    $0.isCorrupt
                }
            }
            // Even a file missing only its final EOI marker is refused, as PIL refuses it
            // ("image file is truncated").
            XCTAssertThrowsImageError(try ImageCodec.decode(Array(jpeg.dropLast(2))), "corrupt") {
                $0.isCorrupt
            }
        }
    }

    func testDamagedPNGDataThrowsCorrupt() throws {
        var png = try Fixture.bytes("chelsea.png")
        png[png.count / 2] ^= 0x5A  // inside IDAT: the chunk CRC no longer matches
        XCTAssertThrowsImageError(try ImageCodec.decode(png), "corrupt") { $0.isCorrupt }
    }

    func testHugeDeclaredPNGIsRefusedBeforeDecoding() {
        let png = pngHeader(width: 100_000, height: 100_000) + chunk("IDAT", [0x78, 0x9C]) + chunk("IEND", [])
        XCTAssertEqual(try ImageCodec.probe(png), ImageHeader(format: .png, width: 100_000, height: 100_000))
        XCTAssertThrowsImageError(try ImageCodec.decode(png), "tooLarge") {
            $0 == .tooLarge(width: 100_000, height: 100_000, limit: ImageCodec.defaultMaxPixels)
        }
        // Even a caller that allows everything gets the hard ceiling, not a 30 GB allocation.
        XCTAssertThrowsImageError(try ImageCodec.decode(png, maxPixels: .max), "tooLarge") {
            $0 == .tooLarge(width: 100_000, height: 100_000, limit: ImageCodec.maximumSupportedPixels)
        }
    }

    func testHugeDeclaredJPEGIsRefusedBeforeDecoding() throws {
        var jpeg = try Fixture.bytes("coffee_q90.jpg")
        let sof = try XCTUnwrap(jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange((sof + 5)...(sof + 8), with: [0xFF, 0xFF, 0xFF, 0xFF])  // 65535 x 65535
        XCTAssertEqual(try ImageCodec.probe(jpeg).pixelCount, 65_535 * 65_535)
        XCTAssertThrowsImageError(try ImageCodec.decode(jpeg, maxPixels: .max), "tooLarge") { $0.isTooLarge }
    }

    func testZeroSizeHeadersThrowCorrupt() throws {
        let png = pngHeader(width: 0, height: 10) + chunk("IEND", [])
        XCTAssertThrowsImageError(try ImageCodec.probe(png), "corrupt") { $0.isCorrupt }
        XCTAssertThrowsImageError(try ImageCodec.decode(png), "corrupt") { $0.isCorrupt }
        var jpeg = try Fixture.bytes("coffee_q90.jpg")
        let sof = try XCTUnwrap(jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange((sof + 5)...(sof + 6), with: [0, 0])  // height 0
        XCTAssertThrowsImageError(try ImageCodec.decode(jpeg), "corrupt") { $0.isCorrupt }
    }

    func testJPEGVariantsLibjpegLacksThrowUnsupportedFormat() throws {
        let jpeg = try Fixture.bytes("coffee_q90.jpg")
        let sof = try XCTUnwrap(jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        var lossless = jpeg
        lossless[sof + 1] = 0xC3  // SOF3, lossless process
        XCTAssertThrowsImageError(try ImageCodec.decode(lossless), "unsupported") { $0.isUnsupported }
        var twelveBit = jpeg
        twelveBit[sof + 4] = 12  // sample precision
        XCTAssertThrowsImageError(try ImageCodec.decode(twelveBit), "unsupported") { $0.isUnsupported }
    }

    func testEveryPrefixOfSmallFilesFailsCleanly() throws {
        for name in ["palette.png", "chelsea_cmyk_q90.jpg"] {
            let bytes = try Fixture.bytes(name)
            for length in stride(from: 0, to: bytes.count - 2, by: 97) {
                XCTAssertThrowsError(try ImageCodec.decode(Array(bytes.prefix(length))), "\(name) prefix \(length)")
            }
        }
    }

    // MARK: - building PNGs byte by byte

    private func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
        var ihdr = [UInt8]()
        for v in [width, height] { ihdr += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
        ihdr += [8, 2, 0, 0, 0]  // 8-bit RGB, deflate, adaptive filtering, no interlace
        return HeaderParser.pngSignature + chunk("IHDR", ihdr)
    }

    private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = crc32(body)
        let length = UInt32(data.count)
        return [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: length >> $0) } + body
            + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: crc >> $0) }
    }

    private func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
