import Checkpoint
import Foundation
import Imaging
import Testing
@testable import Tokenizer

/// The model `vqtok serve` loads by default (Models/vqganlc-f8-tiny), on photographs it was not
/// trained on (scikit-image's, Tests/Fixtures/photos): it loads, turns a 256×256 photo into a
/// 32×32 grid of ids spread over many codes, and the grid decodes back to that photo. The PSNR
/// floors sit 2 dB under what the model card's evaluation measured, so that they catch a broken
/// load, preprocessing or search, not a retrained model that is a little worse.
@Suite struct ShippedModelTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: [("chelsea", 22.0), ("rocket", 23.0)])
    func reconstructsAPhotoItWasNotTrainedOn(name: String, minimumPSNR: Double) throws {
        let loaded = try ModelDirectory.load(Self.root.appendingPathComponent("Models/vqganlc-f8-tiny"))
        let tokenizer = try VQTokenizer(config: loaded.config, weights: loaded.weights)
        let file = Self.root.appendingPathComponent("Tests/Fixtures/photos/\(name).png")
        let photo = try ImageCodec.decode(Data(contentsOf: file)).resizeShortestSideAndCenterCrop(to: 256)

        let grid = tokenizer.encode(ImageTensor.fromImage(photo))
        #expect((grid.batch, grid.height, grid.width) == (1, 32, 32))
        #expect(grid.ids.allSatisfy { (0..<16384).contains($0) })
        #expect(Set(grid.ids).count >= 300, "a photo uses many codes, not a few")

        let back = ImageTensor.toImages(try tokenizer.decode(grid))[0]
        let psnr = peakSignalToNoise(photo.pixels, back.pixels)
        #expect(psnr >= minimumPSNR, "\(name): \(psnr) dB")
    }
}

/// PSNR in dB of 8-bit pixels.
private func peakSignalToNoise(_ a: [UInt8], _ b: [UInt8]) -> Double {
    let squared = zip(a, b).reduce(0.0) { sum, pair in
        let d = Double(pair.0) - Double(pair.1)
        return sum + d * d
    }
    return 10 * log10(255 * 255 / (squared / Double(a.count)))
}
