import Foundation
import XCTest
@testable import Imaging

/// Files under Tests/Fixtures/imaging, written by Scripts/fixtures/make_imaging_fixtures.py.
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/imaging")

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func image(_ name: String) throws -> RGBImage {
        try ImageCodec.decode(bytes(name))
    }
}

/// Per-channel differences between two images of the same size.
struct PixelDiff {
    let max: Int
    let mean: Double
    let differing: Int

    init(_ a: RGBImage, _ b: RGBImage) {
        precondition(a.width == b.width && a.height == b.height, "sizes differ")
        var maxDiff = 0, total = 0, count = 0
        for i in a.pixels.indices {
            let d = abs(Int(a.pixels[i]) - Int(b.pixels[i]))
            maxDiff = Swift.max(maxDiff, d)
            total += d
            if d != 0 { count += 1 }
        }
        self.max = maxDiff
        self.mean = a.pixels.isEmpty ? 0 : Double(total) / Double(a.pixels.count)
        self.differing = count
    }
}

/// Asserts that `body` throws an `ImageError` matching `matches`.
func XCTAssertThrowsImageError<T>(_ body: @autoclosure () throws -> T,
                                  _ description: String,
                                  file: StaticString = #filePath, line: UInt = #line,
                                  _ matches: (ImageError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected \(description), got a result", file: file, line: line)
    } catch let error as ImageError {
        XCTAssertTrue(matches(error), "expected \(description), got \(error)", file: file, line: line)
    } catch {
        XCTFail("expected ImageError (\(description)), got \(error)", file: file, line: line)
    }
}

extension ImageError {
    var isCorrupt: Bool { if case .corrupt = self { true } else { false } }
    var isUnsupported: Bool { if case .unsupportedFormat = self { true } else { false } }
    var isTooLarge: Bool { if case .tooLarge = self { true } else { false } }
}
