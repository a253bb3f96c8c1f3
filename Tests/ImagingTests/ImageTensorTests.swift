import Tensor
import XCTest
@testable import Imaging

final class ImageTensorTests: XCTestCase {
    func testFromImagesIsNCHWScaledToMinusOneOne() {
        // 2 x 1 image: pixel 0 = (0, 255, 128), pixel 1 = (64, 1, 254).
        let a = RGBImage(width: 2, height: 1, pixels: [0, 255, 128, 64, 1, 254])
        let b = RGBImage(width: 2, height: 1, filledWith: 255)
        let t = ImageTensor.fromImages([a, b])
        XCTAssertEqual(t.shape, [2, 3, 1, 2])
        let expectedA: [Float] = [-1, Float(64.0 / 127.5 - 1), 1, Float(1.0 / 127.5 - 1),
                                  Float(128.0 / 127.5 - 1), Float(254.0 / 127.5 - 1)]
        XCTAssertEqual(Array(t.storage[0..<6]), expectedA)
        XCTAssertEqual(Array(t.storage[6..<12]), [Float](repeating: 1, count: 6))
    }

    func testRoundTripIsExactForEveryLevel() {
        let pixels = (0..<(256 * 3)).map { UInt8($0 % 256) }
        let image = RGBImage(width: 16, height: 16, pixels: pixels)
        let back = ImageTensor.toImages(ImageTensor.fromImage(image))
        XCTAssertEqual(back, [image])
    }

    func testRoundTripOfABatchOfPhotos() throws {
        let photo = try Fixture.image("chelsea_bicubic_short256_crop256.png")
        let other = try Fixture.image("chelsea_bilinear_short256_crop256.png")
        let tensor = ImageTensor.fromImages([photo, other])
        XCTAssertEqual(tensor.shape, [2, 3, 256, 256])
        XCTAssertEqual(ImageTensor.toImages(tensor), [photo, other])
    }

    func testToImagesClampsAndRoundsHalfToEven() {
        // (x + 1) * 127.5: -2 -> clamp 0; 2 -> clamp 255; 0 -> 127.5 -> 128 (even);
        // x with (x + 1) * 127.5 == 0.5 -> 0 (even); == 1.5 -> 2; NaN -> 0.
        let half = Float(0.5) / 127.5 - 1
        let oneAndHalf = Float(1.5) / 127.5 - 1
        let values: [Float] = [-2, 2, 0, half, oneAndHalf, .nan]
        let expected: [UInt8] = [0, 255, 128, UInt8(((half + 1) * 127.5).rounded(.toNearestOrEven)),
                                 UInt8(((oneAndHalf + 1) * 127.5).rounded(.toNearestOrEven)), 0]
        // Six pixels of one channel each; lay them out in the red plane of a 6 x 1 image.
        var storage = [Float](repeating: -1, count: 18)
        for (i, v) in values.enumerated() { storage[i] = v }
        let image = ImageTensor.toImages(Tensor(shape: [1, 3, 1, 6], storage: storage))[0]
        XCTAssertEqual((0..<6).map { image[$0, 0].r }, expected)
        XCTAssertEqual(expected[2], 128)
        XCTAssertEqual((0..<6).map { image[$0, 0].g }, [UInt8](repeating: 0, count: 6))
    }

    func testThreeDimensionalTensorIsOneImage() {
        let t = Tensor(shape: [3, 2, 2], storage: [Float](repeating: 1, count: 12))
        let images = ImageTensor.toImages(t)
        XCTAssertEqual(images.count, 1)
        XCTAssertEqual(images[0], RGBImage(width: 2, height: 2, filledWith: 255))
    }
}
