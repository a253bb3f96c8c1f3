import Checkpoint
import Imaging
import Testing
@testable import Server

/// resize=crop is the model's own preprocessing: a larger shortest side before the crop
/// (timm's evaluation, GSQ) or LlamaGen's ADM crop when its config names them.
@Suite struct ModelPreprocessingTests {
    @Test func cropResizesTheShortestSideToItsOwnSizeFirst() throws {
        var config = TinyModels.config()
        config.preprocessing.shortestSide = 20
        let image = TestImages.rgb(width: 30, height: 24)
        let input = ImageInput(maxImagePixels: 1 << 20, maxNativePixels: 1 << 20, maxItems: 4)
        let tensor = try input.preprocess(image, mode: .crop, config: config, label: "x")
        let expected = image.resizeShortestSide(to: 20).centerCrop(size: 16)
        #expect(tensor == ImageTensor.fromImage(expected))
        #expect(tensor != ImageTensor.fromImage(image.resizeShortestSideAndCenterCrop(to: 16)))
    }

    /// LlamaGen's ADM crop (box halvings, then bicubic): resize=crop takes it when the model says so.
    @Test func cropTakesTheADMCropWhenTheModelSaysSo() throws {
        var config = TinyModels.config()
        config.preprocessing = PreprocessingConfig(resolution: 16, interpolation: .bicubic, centerCrop: .adm)
        let image = TestImages.rgb(width: 70, height: 40)
        let input = ImageInput(maxImagePixels: 1 << 20, maxNativePixels: 1 << 20, maxItems: 4)
        let tensor = try input.preprocess(image, mode: .crop, config: config, label: "x")
        #expect(tensor == ImageTensor.fromImage(image.admCenterCrop(size: 16)))
        config.preprocessing.centerCrop = nil
        #expect(try input.preprocess(image, mode: .crop, config: config, label: "x")
                != ImageTensor.fromImage(image.admCenterCrop(size: 16)))
    }
}
