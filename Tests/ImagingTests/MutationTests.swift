import TestSupport
import XCTest
@testable import Imaging

/// Randomly damaged copies of valid files (bytes flipped, cut, inserted) either decode or throw
/// an `ImageError`; nothing crashes, exits or throws anything else. Deterministic seeds.
final class MutationTests: XCTestCase {
    private let files = ["palette.png", "rgba16.png", "gray_alpha.png", "chelsea_gray_q90.jpg",
                         "chelsea_cmyk_q90.jpg", "chelsea_progressive_q85.jpg"]

    func testDamagedFilesNeverCrash() throws {
        var generator = SplitMix64(seed: 2026)
        var decoded = 0, refused = 0
        for name in files {
            let original = try Fixture.bytes(name)
            for _ in 0..<60 {
                var bytes = original
                switch generator.next() % 3 {
                case 0:  // flip 1 to 8 bytes anywhere after the signature
                    for _ in 0...(generator.next() % 8) {
                        let i = 8 + Int(generator.next() % UInt64(bytes.count - 8))
                        bytes[i] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                    }
                case 1:  // cut anywhere
                    bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
                default:  // insert a run of random bytes
                    let at = 4 + Int(generator.next() % UInt64(bytes.count - 4))
                    let run = (0..<(1 + generator.next() % 64)).map { _ in
                        UInt8(truncatingIfNeeded: generator.next())
                    }
                    bytes.insert(contentsOf: run, at: at)
                }
                do {
                    let image = try ImageCodec.decode(bytes, maxPixels: 1_000_000)
                    XCTAssertEqual(image.pixels.count, image.width * image.height * 3)
                    decoded += 1
                } catch is ImageError {
                    refused += 1
                }
            }
        }
        print("mutations: \(decoded) decoded, \(refused) refused")
        XCTAssertEqual(decoded + refused, files.count * 60)
        XCTAssertGreaterThan(refused, 0)
    }
}
