import Imaging
import HTTP
import Testing
@testable import Server
@testable import Tokenizer

/// POST /v1/models/{model}/decode, in process.
@Suite struct DecodeServiceTests {
    private func expectedPNG(_ h: ServiceHarness, _ grid: IdGrid) throws -> [UInt8] {
        let tensor = try h.tokenizer.decode(TokenGrid(batch: 1, height: grid.shape[0], width: grid.shape[1], ids: grid.ids))
        return try ImageCodec.encodePNG(ImageTensor.toImages(tensor)[0])
    }

    @Test func jsonIdsGiveTheInProcessPNG() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let grid = IdGrid(shape: [3, 5], ids: (0..<15).map { Int32($0 * 2) })
        let body = IdsJSON.encode(model: "tiny", codebookSize: 40, grids: [grid], batched: false)
        let r = await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/json"], body: body)
        #expect(r.status == 200)
        #expect(r.header("content-type") == "image/png")
        #expect(r.body == (try expectedPNG(h, grid)))
        let image = try ImageCodec.decode(r.body)
        #expect(image.width == 20 && image.height == 12)
    }

    @Test func npyBatchGivesMultipartMixedInOrder() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let grids = (0..<3).map { b in IdGrid(shape: [2, 2], ids: (0..<4).map { Int32(($0 + b * 7) % 40) }) }
        let body = NPY.encode(shape: [3, 2, 2], dtype: .uint16, values: grids.flatMap(\.ids))
        let r = await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/x-npy"], body: body)
        #expect(r.status == 200)
        let media = try #require(r.header("content-type").flatMap(MediaType.init(parsing:)))
        #expect(media.essence == "multipart/mixed")
        let parts = try Multipart.parse(r.body, boundary: try Multipart.boundary(of: media), maxParts: 8)
        #expect(parts.count == 3)
        for (part, grid) in zip(parts, grids) {
            #expect(part.contentType == "image/png")
            #expect(part.body == (try expectedPNG(h, grid)))
        }
    }

    @Test func jpegByAcceptWithQuality() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let grid = IdGrid(shape: [4, 4], ids: Array(repeating: 3, count: 16))
        let body = IdsJSON.encode(model: "tiny", codebookSize: 40, grids: [grid], batched: false)
        let low = await h.send("POST", "/v1/models/tiny/decode?quality=10",
                               headers: ["content-type": "application/json", "accept": "image/jpeg"], body: body)
        #expect(low.header("content-type") == "image/jpeg")
        #expect(ImageCodec.sniff(low.body) == .jpeg)
        let raw = await h.send("POST", "/v1/models/tiny/decode",
                               headers: ["content-type": "application/octet-stream", "x-ids-shape": "4,4",
                                         "x-ids-dtype": "uint16"],
                               body: RawIds.encode([grid], batched: false, dtype: .uint16).body)
        #expect(raw.status == 200 && raw.header("content-type") == "image/png")
    }

    @Test func badIdsGet422AndOtherMistakesTheirStatus() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let path = "/v1/models/tiny/decode"
        let json = ["content-type": "application/json"]
        h.expectError(await h.send("POST", path, headers: json, body: Array(#"{"shape":[2,2],"ids":[1,2,3,40]}"#.utf8)),
                      422, "ids[3] = 40 is out of range")
        h.expectError(await h.send("POST", path, headers: json, body: Array(#"{"shape":[2,2],"ids":[1,2,3]}"#.utf8)),
                      422, "needs 4 ids")
        h.expectError(await h.send("POST", path, headers: json, body: Array(#"{"shape":[2,2],"ids":[1,2,3,0.5]}"#.utf8)),
                      422, "not an integer")
        h.expectError(await h.send("POST", path, headers: json), 400, "empty")
        let grid = Array(#"{"shape":[1,1],"ids":[1]}"#.utf8)
        h.expectError(await h.send("POST", path, headers: ["content-type": "json"], body: grid), 400, "'json' is not one media type")
        // Two content-type headers reach the service joined (`TokenizerHTTPHandler.serviceRequest`).
        let twice = HTTPRequest(method: "POST", path: path,
                                headers: HTTPHeaders([("content-type", "application/json"), ("Content-Type", "application/x-npy")]), body: grid)
        h.expectError(await h.service.respond(to: TokenizerHTTPHandler.serviceRequest(twice)), 400,
                      "'application/json, application/x-npy' is not one media type")
        h.expectError(await h.send("POST", path, headers: json, body: Array("{".utf8)), 400, "not valid JSON")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"], body: [1]), 415, "image/png")
        h.expectError(await h.send("POST", path + "?quality=0", headers: json, body: Array(#"{"shape":[1,1],"ids":[1]}"#.utf8)),
                      400, "quality=0")
        h.expectError(await h.send("POST", path, headers: json.merging(["accept": "application/json"]) { $1 },
                                   body: Array(#"{"shape":[1,1],"ids":[1]}"#.utf8)), 406, "image/png")
        h.expectError(await h.send("POST", path, headers: json, body: Array(#"{"shape":[600,600],"ids":[]}"#.utf8)),
                      413, "positions")
    }
}
