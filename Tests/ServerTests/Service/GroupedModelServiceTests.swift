import Checkpoint
import Imaging
import Testing
@testable import Server
@testable import Tokenizer

/// A grouped quantizer (GSQ: g ids per position) through the service: its grids carry a last
/// axis of g in every format, both ways.
@Suite struct GroupedModelServiceTests {
    @Test func encodeAnswersGridsWithAGroupAxisInEveryFormat() async throws {
        let h = try await ServiceHarness(grouped: true)
        defer { h.shutdown() }
        let png = try TestImages.png(width: 20, height: 24)
        let expected = try h.expectedIds(png: png)
        #expect(expected.shape == [4, 4, 3])
        let path = "/v1/models/tiny/encode"
        let json = await h.send("POST", path, headers: ["content-type": "image/png"], body: png)
        #expect(json.status == 200)
        let spec = IdsSpec(codebookSize: 40, groups: 3, maxPositions: 64, maxGrids: 2)
        #expect(try IdsJSON.decode(json.body, spec: spec).grids == [expected])
        let npy = await h.send("POST", path, headers: ["content-type": "image/png", "accept": "application/x-npy"], body: png)
        let array = try NPY.decode(npy.body)
        #expect(array.shape == [4, 4, 3] && array.values == expected.ids.map(Int64.init))
        let raw = await h.send("POST", path, headers: ["content-type": "image/png", "accept": "application/octet-stream"],
                               body: png)
        #expect(raw.header("x-ids-shape") == "4,4,3" && raw.body.count == 4 * 4 * 3 * 2)
        let form = TestImages.form([(type: "image/png", bytes: png), (type: "image/png", bytes: png)])
        let batch = await h.send("POST", path, headers: ["content-type": "multipart/form-data; boundary=test-boundary-1234",
                                                         "accept": "application/x-npy"], body: form)
        #expect(try NPY.decode(batch.body).shape == [2, 4, 4, 3])
        let info = try h.json(await h.send("GET", "/v1/models/tiny"))
        #expect(info["grid"] == .array([.number("4"), .number("4"), .number("3")]))
        #expect(info["quantizer"]?["groups"] == .number("3"))
    }

    @Test func decodeTakesTheEncodeAnswerAndRefusesGridsWithoutTheGroupAxis() async throws {
        let h = try await ServiceHarness(grouped: true)
        defer { h.shutdown() }
        let png = try TestImages.png(width: 16, height: 16)
        let encoded = await h.send("POST", "/v1/models/tiny/encode?resize=none", headers: ["content-type": "image/png"], body: png)
        let decoded = await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/json"],
                                   body: encoded.body)
        #expect(decoded.status == 200 && decoded.header("content-type") == "image/png")
        let grid = try h.expectedIds(png: png, mode: .none)
        let image = try h.tokenizer.decode(TokenGrid(batchOf: [grid]))
        #expect(decoded.body == (try ImageCodec.encodePNG(ImageTensor.toImages(image)[0])))
        h.expectError(await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/json"],
                                   body: Array(#"{"shape": [4, 4], "ids": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}"#.utf8)),
                      422, "this model takes [h, w, 3]")
        h.expectError(await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/json"],
                                   body: Array(#"{"shape": [1, 1, 2], "ids": [0, 0]}"#.utf8)),
                      422, "has 2 groups; this model has 3")
    }
}

/// A model whose preprocessing resizes the shortest side past its resolution before the crop
/// (timm's evaluation, `shortest_side`): resize=crop takes that path, and the model info says so.
@Suite struct ShortestSidePreprocessingTests {
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
