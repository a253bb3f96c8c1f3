import Imaging
import Testing
@testable import Server

/// POST /v1/models/{model}/encode, in process.
@Suite struct EncodeServiceTests {
    @Test func pngGivesTheInProcessIdsAsJSON() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let png = try TestImages.png(width: 20, height: 24)
        let r = await h.send("POST", "/v1/models/tiny/encode", headers: ["content-type": "image/png"], body: png)
        #expect(r.status == 200)
        #expect(r.header("content-type") == "application/json")
        let expected = try h.expectedIds(png: png)
        #expect(expected.shape == [4, 4])
        let parsed = try IdsJSON.decode(r.body, spec: IdsSpec(codebookSize: 40, maxPositions: 64, maxGrids: 1))
        #expect(parsed.grids == [expected] && !parsed.batched)
        let json = try h.json(r)
        #expect(json["model"] == .string("tiny") && json["codebook_size"] == .number("40"))
        for header in ["x-queue-time", "x-compute-time", "x-total-time"] {
            #expect(r.header(header).flatMap(Double.init) != nil, "\(header) is a number of ms")
        }
    }

    @Test func acceptChoosesNpyOrRawAndJpegWorksToo() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let jpeg = try TestImages.jpeg()
        let expected = try h.expectedIds(png: jpeg)
        let npy = await h.send("POST", "/v1/models/tiny/encode",
                               headers: ["content-type": "image/jpeg", "accept": "application/x-npy"], body: jpeg)
        #expect(npy.header("content-type") == "application/x-npy")
        let array = try NPY.decode(npy.body)
        #expect(array.shape == [4, 4] && array.dtype == .uint16)
        #expect(array.values == expected.ids.map(Int64.init))
        let raw = await h.send("POST", "/v1/models/tiny/encode",
                               headers: ["content-type": "image/jpeg", "accept": "application/octet-stream"], body: jpeg)
        #expect(raw.header("x-ids-shape") == "4,4" && raw.header("x-ids-dtype") == "uint16")
        #expect(raw.body.count == 32)
    }

    @Test func multipartGivesOneGridPerPartInOrder() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let files = try (0..<3).map { try TestImages.png(width: 16 + $0 * 4, height: 20, seed: $0) }
        let body = TestImages.form(files.map { (type: "image/png", bytes: $0) })
        let r = await h.send("POST", "/v1/models/tiny/encode?resize=crop",
                             headers: ["content-type": "multipart/form-data; boundary=test-boundary-1234",
                                       "accept": "application/x-npy"], body: body)
        #expect(r.status == 200)
        let array = try NPY.decode(r.body)
        #expect(array.shape == [3, 4, 4])
        let expected = try files.flatMap { try h.expectedIds(png: $0).ids.map(Int64.init) }
        #expect(array.values == expected)
    }

    @Test func resizeNoneKeepsTheImagesOwnSize() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let png = try TestImages.png(width: 42, height: 27)
        let r = await h.send("POST", "/v1/models/tiny/encode?resize=none", headers: ["content-type": "image/png"], body: png)
        let json = try h.json(r)
        #expect(json["shape"] == .array([.number("6"), .number("10")]), "27x42 crops to 24x40: a 6x10 grid")
        let expected = try h.expectedIds(png: png, mode: .none)
        #expect(try IdsJSON.decode(r.body, spec: IdsSpec(codebookSize: 40, maxPositions: 64, maxGrids: 1)).grids == [expected])
        let whole = await h.send("POST", "/v1/models/tiny/encode?resize=whole", headers: ["content-type": "image/png"], body: png)
        #expect(try h.json(whole)["shape"] == .array([.number("4"), .number("4")]))
    }

    @Test func badInputsGetTheirStatusAndTheServiceGoesOn() async throws {
        let h = try await ServiceHarness(configuration: ServiceConfiguration(maxImagePixels: 10_000))
        defer { h.shutdown() }
        let png = try TestImages.png()
        let path = "/v1/models/tiny/encode"
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"]), 400, "empty")
        h.expectError(await h.send("POST", path, headers: ["content-type": "text/plain"], body: Array("hi".utf8)),
                      415, "text/plain")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"], body: Array("GIF89a....".utf8)),
                      415, "not a PNG or JPEG")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"], body: Array(png.prefix(60))),
                      400, "corrupt")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"],
                                   body: try TestImages.png(width: 200, height: 100)), 413, "20000")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png"],
                                   body: try TestImages.png(width: 2, height: 200)), 413, "resize=whole")
        #expect(await h.send("POST", path + "?resize=whole", headers: ["content-type": "image/png"],
                             body: try TestImages.png(width: 2, height: 200)).status == 200)
        h.expectError(await h.send("POST", path + "?resize=fit", headers: ["content-type": "image/png"], body: png),
                      400, "resize=fit")
        h.expectError(await h.send("POST", path + "?size=3", headers: ["content-type": "image/png"], body: png),
                      400, "unknown query parameter 'size'")
        h.expectError(await h.send("POST", path + "?resize=crop&resize=none", headers: ["content-type": "image/png"], body: png),
                      400, "'resize' is given more than once")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png", "accept": "text/html"], body: png),
                      406, "text/html")
        h.expectError(await h.send("POST", path + "?resize=none", headers: ["content-type": "image/png"],
                                   body: try TestImages.png(width: 3, height: 30)), 400, "smaller than")
        let form = TestImages.form([(type: "image/png", bytes: png), (type: "text/plain", bytes: Array("x".utf8))])
        h.expectError(await h.send("POST", path, headers: ["content-type": "multipart/form-data; boundary=test-boundary-1234"],
                                   body: form), 415, "part 1")
        let unreadable = TestImages.form([(type: "image/png", bytes: png), (type: "png", bytes: png)])
        h.expectError(await h.send("POST", path, headers: ["content-type": "multipart/form-data; boundary=test-boundary-1234"],
                                   body: unreadable), 400, "part 1 ('image1') has content-type 'png'")
        h.expectError(await h.send("POST", path, headers: ["content-type": "image/png, image/jpeg"], body: png),
                      400, "not one media type")
        h.expectError(await h.send("POST", "/v1/models/nope/encode", headers: ["content-type": "image/png"], body: png),
                      404, "nope")
        h.expectError(await h.send("GET", path), 405, "POST")
        #expect(await h.send("GET", path).header("allow") == "POST")
        let ok = await h.send("POST", path, headers: ["content-type": "image/png"], body: png)
        #expect(ok.status == 200)
    }

    @Test func encodedIdsFeedTheCodebookHealth() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        _ = await h.send("POST", "/v1/models/tiny/encode", headers: ["content-type": "image/png"], body: try TestImages.png())
        let text = PrometheusText(String(decoding: (await h.send("GET", "/metrics")).body, as: UTF8.self))
        #expect(text.value("vqtok_tokens_observed", ["model": "tiny", "window": "total"]).map { $0 >= 16 } == true)
        #expect(text.value("vqtok_codebook_utilization", ["model": "tiny", "window": "recent"]).map { $0 > 0 } == true)
    }
}
