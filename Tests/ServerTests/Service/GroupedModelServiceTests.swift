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
