import XCTest
@testable import Imaging

/// Each file variant decodes to what PIL's `Image.open(f).convert("RGB")` gives (the
/// `*_expected.png` fixtures), with the measured tolerance.
final class DecodeTests: XCTestCase {
    private func assertDecodes(_ name: String, width: Int, height: Int, maxDiff: Int,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let decoded = try Fixture.image(name)
        let base = name.split(separator: ".").dropLast().joined(separator: ".")
        let expected = try Fixture.image(base + "_expected.png")
        XCTAssertEqual(decoded.width, width, file: file, line: line)
        XCTAssertEqual(decoded.height, height, file: file, line: line)
        let diff = PixelDiff(decoded, expected)
        print("decode \(name): max diff \(diff.max), mean \(diff.mean), differing \(diff.differing)")
        XCTAssertLessThanOrEqual(diff.max, maxDiff, "\(name) vs PIL", file: file, line: line)
    }

    func testRGBJPEGDecodesLikePIL() throws {
        try assertDecodes("coffee_q90.jpg", width: 321, height: 239, maxDiff: 0)
    }

    func testGrayscaleJPEGDecodesToReplicatedRGB() throws {
        try assertDecodes("chelsea_gray_q90.jpg", width: 160, height: 120, maxDiff: 0)
        let image = try Fixture.image("chelsea_gray_q90.jpg")
        for p in stride(from: 0, to: image.pixels.count, by: 3) {
            XCTAssertEqual(image.pixels[p], image.pixels[p + 1])
            XCTAssertEqual(image.pixels[p], image.pixels[p + 2])
        }
    }

    func testCMYKJPEGDecodesLikePIL() throws {
        try assertDecodes("chelsea_cmyk_q90.jpg", width: 96, height: 72, maxDiff: 0)
    }

    func testRGB16PNGDecodesWithinOneLevelOfPIL() throws {
        try assertDecodes("rgb16.png", width: 96, height: 72, maxDiff: 1)
    }

    func testGray16PNGDecodesWithinOneLevelOfHighByte() throws {
        try assertDecodes("gray16.png", width: 96, height: 72, maxDiff: 1)
    }

    func testPalettePNGWithTransparencyDecodesLikePIL() throws {
        try assertDecodes("palette.png", width: 96, height: 72, maxDiff: 0)
    }

    func testGrayAlphaPNGDropsAlphaLikePIL() throws {
        try assertDecodes("gray_alpha.png", width: 96, height: 72, maxDiff: 0)
    }

    func testRGBAPNGDropsAlphaLikePIL() throws {
        try assertDecodes("rgba.png", width: 96, height: 72, maxDiff: 0)
    }

    func testPhotoPNGDecodesToKnownPixels() throws {
        let image = try Fixture.image("chelsea.png")
        XCTAssertEqual(image.width, 451)
        XCTAssertEqual(image.height, 300)
        // Sum over all bytes, from PIL: np.asarray(Image.open("chelsea.png").convert("RGB")).sum()
        XCTAssertEqual(image.pixels.reduce(0) { $0 + Int($1) }, chelseaByteSum)
        XCTAssertEqual(image[0, 0].r, chelseaFirstPixel.0)
        XCTAssertEqual(image[0, 0].g, chelseaFirstPixel.1)
        XCTAssertEqual(image[0, 0].b, chelseaFirstPixel.2)
    }

    private let chelseaByteSum = 46_802_357
    private let chelseaFirstPixel: (UInt8, UInt8, UInt8) = (143, 120, 104)

    func testDecodeAcceptsData() throws {
        let data = Data(try Fixture.bytes("palette.png"))
        XCTAssertEqual(try ImageCodec.decode(data).width, 96)
    }
}

extension DecodeTests {
    func testRGBA16PNGDropsAlphaWithinOneLevelOfPIL() throws {
        try assertDecodes("rgba16.png", width: 96, height: 72, maxDiff: 1)
    }
}

extension DecodeTests {
    func testProgressiveJPEGDecodesLikePIL() throws {
        try assertDecodes("chelsea_progressive_q85.jpg", width: 99, height: 74, maxDiff: 0)
    }
}
