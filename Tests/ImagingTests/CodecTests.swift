import XCTest
@testable import Imaging

/// Encoding, round trips, and the header-only probe.
final class CodecTests: XCTestCase {
    func testPNGRoundTripIsExact() throws {
        let photo = try Fixture.image("chelsea.png")
        let encoded = try ImageCodec.encodePNG(photo)
        XCTAssertEqual(ImageCodec.sniff(encoded), .png)
        XCTAssertEqual(try ImageCodec.decode(encoded), photo)
    }

    func testFastPNGIsLosslessToo() throws {
        let photo = try Fixture.image("chelsea_bicubic_short256_crop256.png")
        let fast = try ImageCodec.encodePNG(photo, fast: true)
        XCTAssertEqual(try ImageCodec.decode(fast), photo)
    }

    func testJPEGEncodingMatchesPILAtTheSameQuality() throws {
        let photo = try Fixture.image("chelsea.png")
        let ours = try ImageCodec.decode(ImageCodec.encodeJPEG(photo, quality: 90))
        let pil = try Fixture.image("chelsea_q90_pil.jpg")
        let diff = PixelDiff(ours, pil)
        print("JPEG q90, ours vs PIL's encoding: max diff \(diff.max), mean \(diff.mean)")
        XCTAssertEqual(diff.max, 0)
    }

    func testPNGRoundTripOfOnePixelAndOddSizes() throws {
        for (w, h) in [(1, 1), (3, 7), (17, 2)] {
            let pixels = (0..<(w * h * 3)).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            let image = RGBImage(width: w, height: h, pixels: pixels)
            XCTAssertEqual(try ImageCodec.decode(ImageCodec.encodePNG(image)), image)
        }
    }

    func testJPEGRoundTripIsClose() throws {
        let photo = try Fixture.image("chelsea.png")
        let encoded = try ImageCodec.encodeJPEG(photo, quality: 90)
        XCTAssertEqual(ImageCodec.sniff(encoded), .jpeg)
        XCTAssertLessThan(encoded.count, photo.pixels.count / 5)
        let decoded = try ImageCodec.decode(encoded)
        XCTAssertEqual(decoded.width, photo.width)
        XCTAssertEqual(decoded.height, photo.height)
        let diff = PixelDiff(decoded, photo)
        var squared = 0.0
        for i in photo.pixels.indices {
            let d = Double(decoded.pixels[i]) - Double(photo.pixels[i])
            squared += d * d
        }
        let psnr = 10 * log10(255 * 255 / (squared / Double(photo.pixels.count)))
        print("JPEG q90 round trip: mean abs diff \(diff.mean), max \(diff.max), PSNR \(psnr) dB")
        XCTAssertLessThan(diff.mean, 2.5)
        XCTAssertGreaterThan(psnr, 35)
    }

    func testJPEGQualityChangesSize() throws {
        let photo = try Fixture.image("chelsea.png")
        let low = try ImageCodec.encodeJPEG(photo, quality: 10)
        let high = try ImageCodec.encodeJPEG(photo, quality: 100)
        XCTAssertLessThan(low.count * 3, high.count)
        XCTAssertEqual(try ImageCodec.decode(low).width, 451)
    }

    func testEncodeInFormatDispatches() throws {
        let image = RGBImage(width: 8, height: 8, filledWith: 200)
        XCTAssertEqual(ImageCodec.sniff(try ImageCodec.encode(image, as: .png)), .png)
        XCTAssertEqual(ImageCodec.sniff(try ImageCodec.encode(image, as: .jpeg, quality: 50)), .jpeg)
    }

    func testEncodingAnEmptyImageThrowsEmpty() {
        let empty = RGBImage(width: 0, height: 5, pixels: [])
        XCTAssertThrowsImageError(try ImageCodec.encodePNG(empty), "empty") { $0 == .empty }
        XCTAssertThrowsImageError(try ImageCodec.encodeJPEG(empty), "empty") { $0 == .empty }
    }

    func testProbeReadsDimensionsOfEachFormat() throws {
        XCTAssertEqual(try ImageCodec.probe(Fixture.bytes("chelsea.png")),
                       ImageHeader(format: .png, width: 451, height: 300))
        XCTAssertEqual(try ImageCodec.probe(Fixture.bytes("coffee_q90.jpg")),
                       ImageHeader(format: .jpeg, width: 321, height: 239))
        XCTAssertEqual(try ImageCodec.probe(Fixture.bytes("chelsea_cmyk_q90.jpg")),
                       ImageHeader(format: .jpeg, width: 96, height: 72))
        XCTAssertEqual(try ImageCodec.probe(Fixture.bytes("palette.png")).pixelCount, 96 * 72)
    }

    func testProbeNeedsOnlyTheHeader() throws {
        // PNG: signature + IHDR (33 bytes); JPEG: everything up to the end of the SOF segment.
        let png = try Fixture.bytes("chelsea.png")
        XCTAssertEqual(try ImageCodec.probe(Array(png.prefix(33))).width, 451)
        XCTAssertThrowsImageError(try ImageCodec.decode(Array(png.prefix(33))), "corrupt") { $0.isCorrupt }
        let jpeg = try Fixture.bytes("coffee_q90.jpg")
        let sof = try XCTUnwrap(jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        let head = Array(jpeg.prefix(sof + 11))
        XCTAssertEqual(try ImageCodec.probe(head), ImageHeader(format: .jpeg, width: 321, height: 239))
        XCTAssertThrowsImageError(try ImageCodec.decode(head), "corrupt") { $0.isCorrupt }
    }

    func testProbeRejectsMoreThanMaxPixels() throws {
        let png = try Fixture.bytes("chelsea.png")
        XCTAssertEqual(try ImageCodec.probe(png, maxPixels: 451 * 300).width, 451)
        XCTAssertThrowsImageError(try ImageCodec.probe(png, maxPixels: 451 * 300 - 1), "tooLarge") {
            $0 == .tooLarge(width: 451, height: 300, limit: 451 * 300 - 1)
        }
    }

    func testDecodeRefusesMoreThanMaxPixels() throws {
        for name in ["chelsea.png", "coffee_q90.jpg"] {
            let bytes = try Fixture.bytes(name)
            let header = try ImageCodec.probe(bytes)
            XCTAssertNoThrow(try ImageCodec.decode(bytes, maxPixels: header.pixelCount))
            XCTAssertThrowsImageError(try ImageCodec.decode(bytes, maxPixels: 1000), "tooLarge") {
                $0 == .tooLarge(width: header.width, height: header.height, limit: 1000)
            }
        }
    }

    func testErrorDescriptionsAreReadable() {
        XCTAssertEqual(ImageError.tooLarge(width: 100, height: 200, limit: 50).description,
                       "image of 100 x 200 = 20000 pixels exceeds the limit of 50 pixels")
        XCTAssertEqual(ImageError.empty.description, "empty image")
        XCTAssertEqual(ImageError.corrupt("x").description, "corrupt image: x")
        XCTAssertEqual(ImageError.unsupportedFormat("y").description, "unsupported image format: y")
    }
}
