import XCTest
@testable import Imaging

/// Resizing and cropping match PIL (`Image.resize`, the fixtures from
/// Scripts/fixtures/make_imaging_fixtures.py) pixel for pixel: measured max difference 0 on
/// every fixture (the resampler reproduces Pillow's fixed-point arithmetic), asserted exactly.
final class ResizeTests: XCTestCase {
    private func assertMatchesPIL(_ ours: RGBImage, _ expectedName: String,
                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try Fixture.image(expectedName)
        XCTAssertEqual(ours.width, expected.width, file: file, line: line)
        XCTAssertEqual(ours.height, expected.height, file: file, line: line)
        guard ours.width == expected.width, ours.height == expected.height else { return }
        let diff = PixelDiff(ours, expected)
        print("resize \(expectedName): max diff \(diff.max), mean \(diff.mean), differing \(diff.differing)")
        XCTAssertEqual(diff.max, 0, expectedName, file: file, line: line)
    }

    func testShortestSideAndCenterCropBilinearMatchesPIL() throws {
        let photo = try Fixture.image("chelsea.png")
        let ours = photo.resizeShortestSideAndCenterCrop(to: 256, filter: .bilinear)
        try assertMatchesPIL(ours, "chelsea_bilinear_short256_crop256.png")
    }

    func testShortestSideAndCenterCropBicubicMatchesPIL() throws {
        let photo = try Fixture.image("chelsea.png")
        let ours = photo.resizeShortestSide(to: 256, filter: .bicubic).centerCrop(size: 256)
        try assertMatchesPIL(ours, "chelsea_bicubic_short256_crop256.png")
    }

    func testStrongDownscaleAntialiasesLikePIL() throws {
        let photo = try Fixture.image("chelsea.png")
        for filter in [ResampleFilter.bilinear, .bicubic] {
            try assertMatchesPIL(photo.resizeWhole(width: 100, height: 67, filter: filter),
                                 "chelsea_\(filter.rawValue)_100x67.png")
            try assertMatchesPIL(photo.resizeWhole(width: 181, height: 127, filter: filter),
                                 "chelsea_\(filter.rawValue)_181x127.png")
        }
    }

    func testUpscaleMatchesPIL() throws {
        let crop = try Fixture.image("chelsea.png").crop(x: 200, y: 100, width: 64, height: 48)
        for filter in [ResampleFilter.bilinear, .bicubic] {
            try assertMatchesPIL(crop.resizeWhole(width: 150, height: 113, filter: filter),
                                 "chelsea_crop64x48_\(filter.rawValue)_150x113.png")
        }
    }

    func testBoxHalvingMatchesPIL() throws {
        let photo = try Fixture.image("chelsea.png")
        try assertMatchesPIL(photo.resizeWhole(width: 225, height: 150, filter: .box),
                             "chelsea_box_225x150.png")
    }

    func testLlamaGenADMCenterCropMatchesPIL() throws {
        let ours = try Fixture.image("chelsea.png").admCenterCrop(size: 128)
        try assertMatchesPIL(ours, "chelsea_adm_center_crop128.png")
    }

    func testSameSizeResizeIsIdentity() throws {
        let photo = try Fixture.image("palette_expected.png")
        XCTAssertEqual(photo.resizeWhole(width: photo.width, height: photo.height, filter: .bicubic), photo)
        XCTAssertEqual(photo.resizeShortestSide(to: 72), photo)
    }

    func testConstantImageStaysConstant() {
        let gray = RGBImage(width: 37, height: 23, filledWith: 201)
        for filter in ResampleFilter.allCases {
            for (w, h) in [(5, 3), (100, 61), (37, 9), (12, 23)] {
                let out = gray.resizeWhole(width: w, height: h, filter: filter)
                XCTAssertEqual(out.pixels, [UInt8](repeating: 201, count: w * h * 3), "\(filter) \(w)x\(h)")
            }
        }
    }

    func testShortestSideSizeRoundsHalfUp() {
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 451, height: 300, to: 256) == (385, 256))
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 300, height: 451, to: 256) == (256, 385))
        // Exact halves round up: 5 * 3 / 2 = 7.5 -> 8, 13 * 1 / 2 = 6.5 -> 7 (Python's round: 6).
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 3, height: 2, to: 128) == (192, 128))
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 2, height: 5, to: 3) == (3, 8))
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 13, height: 2, to: 1) == (7, 1))
        XCTAssertTrue(ImageGeometry.shortestSideSize(width: 64, height: 64, to: 32) == (32, 32))
    }

    func testCenterCropOffsetsRoundDown() {
        // 5 x 4 image whose red channel is the column and green channel the row.
        var pixels = [UInt8]()
        for y in 0..<4 { for x in 0..<5 { pixels += [UInt8(x), UInt8(y), 0] } }
        let image = RGBImage(width: 5, height: 4, pixels: pixels)
        let crop = image.centerCrop(size: 2)  // offsets (5-2)//2 = 1, (4-2)//2 = 1
        XCTAssertEqual(crop.width, 2)
        XCTAssertEqual(crop[0, 0].r, 1)
        XCTAssertEqual(crop[0, 0].g, 1)
        XCTAssertEqual(crop[1, 1].r, 2)
        XCTAssertEqual(crop[1, 1].g, 2)
        let wide = image.centerCrop(width: 3, height: 1)  // offsets 1, 1
        XCTAssertEqual(wide.pixels, [1, 1, 0, 2, 1, 0, 3, 1, 0])
    }

    func testRoundingToMultiplesOfTheDownsampleFactor() {
        XCTAssertEqual(ImageGeometry.roundDown(451, toMultipleOf: 16), 448)
        XCTAssertEqual(ImageGeometry.roundDown(15, toMultipleOf: 16), 0)
        XCTAssertEqual(ImageGeometry.roundToNearest(451, multipleOf: 16), 448)
        XCTAssertEqual(ImageGeometry.roundToNearest(456, multipleOf: 16), 464)
        XCTAssertEqual(ImageGeometry.roundToNearest(3, multipleOf: 16), 16)
        let image = RGBImage(width: 451, height: 300, filledWith: 9)
        let cropped = image.centerCropToMultiple(of: 16)
        XCTAssertEqual(cropped.width, 448)
        XCTAssertEqual(cropped.height, 288)
        let resized = image.resizeToMultiple(of: 16)
        XCTAssertEqual(resized.width, 448)
        XCTAssertEqual(resized.height, 304)
    }
}

extension ResizeTests {
    func testWindowedResizeEqualsResizeThenCrop() throws {
        let photo = try Fixture.image("chelsea.png").crop(x: 150, y: 60, width: 120, height: 80)
        for filter in ResampleFilter.allCases {
            // Both passes, vertical only, horizontal only, neither, upscaling.
            for (w, h) in [(47, 31), (120, 50), (60, 80), (120, 80), (241, 81)] {
                let full = photo.resizeWhole(width: w, height: h, filter: filter)
                let window = Resampler.resize(photo, width: w, height: h, filter: filter,
                                              columns: 3..<(w - 5), rows: 7..<(h - 2))
                XCTAssertEqual(window, full.crop(x: 3, y: 7, width: w - 8, height: h - 9), "\(filter) \(w)x\(h)")
            }
        }
    }

    /// timm's evaluation (GSQ): the shortest side to 292, then the center 256 square; the same
    /// pixels as the two steps apart, each of which matches PIL above.
    func testLargerShortestSideThenCenterCropIsTheTwoStepsApart() throws {
        let photo = try Fixture.image("chelsea.png")
        for filter in ResampleFilter.allCases {
            let ours = photo.resizeShortestSideAndCenterCrop(to: 256, shortestSide: 292, filter: filter)
            let resized = photo.resizeShortestSide(to: 292, filter: filter)
            XCTAssertEqual(resized.height, 292)
            XCTAssertEqual(ours, resized.centerCrop(size: 256), "\(filter)")
            XCTAssertNotEqual(ours, photo.resizeShortestSideAndCenterCrop(to: 256, filter: filter))
        }
    }

    func testExtremeAspectRatioCostsOnlyTheCrop() {
        // 1 x 40000 -> shortest side 256 would be 256 x 10240000 (7.8 GB); only 256 x 256 is built.
        var pixels = [UInt8]()
        for y in 0..<40_000 { pixels += [UInt8(y % 251), UInt8(y % 13), 77] }
        let strip = RGBImage(width: 1, height: 40_000, pixels: pixels)
        let out = strip.resizeShortestSideAndCenterCrop(to: 256, filter: .bicubic)
        XCTAssertEqual(out.width, 256)
        XCTAssertEqual(out.height, 256)
        // Every column of an image one pixel wide is the same; blue is constant.
        XCTAssertEqual(out[0, 100].r, out[255, 100].r)
        XCTAssertEqual(out[17, 3].b, 77)
    }
}
