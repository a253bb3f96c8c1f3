import Foundation
import HTTP
import Imaging
import Testing
@testable import Server

/// Runs `body` against a live server and stops the server whatever happens.
func withLiveServer(models: [LoadedModel], configuration: ServiceConfiguration = ServiceConfiguration(),
                    http: HTTPServerConfiguration = HTTPServerConfiguration(),
                    _ body: (LiveServer) async throws -> Void) async throws {
    let live = try await LiveServer(models: models, configuration: configuration, http: http)
    do { try await body(live) } catch {
        await live.stop()
        throw error
    }
    await live.stop()
}

extension Integration {
    /// Every endpoint, format and error through curl, over HTTP/2 (prior knowledge) and HTTP/1.1.
    @Suite struct HTTPEndpointTests {
        let spec: OpenAPISpec
        init() throws { spec = try OpenAPISpec() }

        /// Checks what every answer must have: its protocol, the timing headers, a documented status,
        /// and for errors the JSON error body.
        private func check(_ a: Curl.Answer, _ method: String, _ path: String, _ version: Curl.Version,
                           sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(a.httpVersion == (version == .http2 ? "2" : "1.1"), "protocol", sourceLocation: sourceLocation)
            for header in ["x-queue-time", "x-compute-time", "x-total-time"] {
                #expect(a.headers[header].flatMap(Double.init) != nil, "\(header) on \(method) \(path)",
                        sourceLocation: sourceLocation)
            }
            let template = Route.match(String(path.split(separator: "?")[0]))?.template ?? Route.unmatchedTemplate
            #expect(spec.documents(template: template, method: method, status: a.status),
                    "\(method) \(path) -> \(a.status) is in openapi.json", sourceLocation: sourceLocation)
            if a.status >= 400 {
                let json = a.json as? [String: Any]
                #expect(json?["error"] is String && json?["type"] is String, "JSON error body for \(a.status)",
                        sourceLocation: sourceLocation)
            }
        }

        @Test(arguments: Curl.Version.allCases)
        func everyEndpointAndFormat(_ version: Curl.Version) async throws {
            let live = try await SharedServers.fixture.value
            do {
                let curl = live.curl(version)
                let model = Fixtures.modelName
                let photo = try Fixtures.photo("coffee")
                func call(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil,
                          form: [(name: String, type: String, bytes: [UInt8])] = []) async throws -> Curl.Answer {
                    let answer = try await curl.request(method, path, headers: headers, body: body, form: form)
                    check(answer, method, path, version)
                    try #require(answer.status == 200, "\(method) \(path): \(answer.errorMessage ?? "")")
                    return answer
                }

                #expect(try await call("GET", "/healthz").status == 200)
                #expect(try await call("GET", "/readyz").status == 200)
                let list = try await call("GET", "/v1/models").json as? [String: Any]
                let models = list?["models"] as? [[String: Any]]
                #expect(models?.first?["name"] as? String == model)
                let info = try await call("GET", "/v1/models/\(model)").json as? [String: Any]
                #expect(info?["grid"] as? [Int] == [16, 16] && info?["codebook_size"] as? Int == 4096)
                let metrics = try await call("GET", "/metrics")
                #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")

                // One photo at the model resolution; the formats on small images at their own size
                // (resize=none, a 2x3 grid), which cost the debug-built network far less.
                let json = try await call("POST", "/v1/models/\(model)/encode", headers: ["content-type": "image/png"], body: photo)
                let grid = json.json as? [String: Any]
                #expect(grid?["shape"] as? [Int] == [16, 16])
                #expect((grid?["ids"] as? [Int])?.count == 256)
                let small = try TestImages.png(width: 48, height: 32, seed: 1)
                let native = "/v1/models/\(model)/encode?resize=none"
                let smallJSON = try await call("POST", native, headers: ["content-type": "image/png"], body: small)
                let ids = (smallJSON.json as? [String: Any])?["ids"] as? [Int] ?? []
                #expect((smallJSON.json as? [String: Any])?["shape"] as? [Int] == [2, 3] && ids.count == 6)
                let npy = try await call("POST", native, headers: ["content-type": "image/png", "accept": "application/x-npy"], body: small)
                let array = try NPY.decode(npy.body)
                #expect(array.shape == [2, 3] && array.dtype == .uint16 && array.values == ids.map(Int64.init))
                let raw = try await call("POST", native, headers: ["content-type": "image/png", "accept": "application/octet-stream"],
                                         body: small)
                #expect(raw.headers["x-ids-shape"] == "2,3" && raw.headers["x-ids-dtype"] == "uint16" && raw.body.count == 12)
                let jpeg = try TestImages.jpeg(width: 48, height: 32, seed: 2)
                let batch = try await call("POST", native, headers: ["accept": "application/x-npy"],
                                           form: [("a", "image/png", small), ("b", "image/jpeg", jpeg)])
                let batchArray = try NPY.decode(batch.body)
                #expect(batchArray.shape == [2, 2, 3] && Array(batchArray.values.prefix(6)) == array.values)

                let png = try await call("POST", "/v1/models/\(model)/decode", headers: ["content-type": "application/json"],
                                         body: json.body)
                #expect(png.headers["content-type"] == "image/png")
                let image = try ImageCodec.decode(png.body)
                #expect(image.width == 256 && image.height == 256)
                let smallPNG = try await call("POST", "/v1/models/\(model)/decode", headers: ["content-type": "application/x-npy"],
                                              body: npy.body)
                #expect(try ImageCodec.decode(smallPNG.body).width == 48)
                let lowJPEG = try await call("POST", "/v1/models/\(model)/decode?quality=50",
                                             headers: ["content-type": "application/x-npy", "accept": "image/jpeg"], body: npy.body)
                #expect(lowJPEG.headers["content-type"] == "image/jpeg" && ImageCodec.sniff(lowJPEG.body) == .jpeg)
                let mixed = try await call("POST", "/v1/models/\(model)/decode", headers: ["content-type": "application/x-npy"],
                                           body: batch.body)
                let media = try #require(mixed.headers["content-type"].flatMap(MediaType.init(parsing:)))
                let parts = try Multipart.parse(mixed.body, boundary: try Multipart.boundary(of: media), maxParts: 4)
                #expect(media.essence == "multipart/mixed" && parts.count == 2 && parts[0].body == smallPNG.body)
                #expect(try await call("HEAD", "/healthz").status == 200)
            }
        }

        @Test(arguments: Curl.Version.allCases)
        func everyErrorHasItsStatusAndTheServerGoesOn(_ version: Curl.Version) async throws {
            // The small synthesized model: every case here fails before or around the network.
            let configuration = ServiceConfiguration(maxImagePixels: 300_000)
            try await withLiveServer(models: [try TinyModels.model()], configuration: configuration) { live in
                let curl = live.curl(version)
                let model = "tiny"
                let encode = "/v1/models/\(model)/encode", decode = "/v1/models/\(model)/decode"
                let photo = try TestImages.png(width: 40, height: 30)
                let big = try ImageCodec.encodePNG(TestImages.rgb(width: 700, height: 700))
                let cases: [(String, String, [String: String], [UInt8]?, Int, String)] = [
                    ("POST", "/v1/models/nope/encode", ["content-type": "image/png"], photo, 404, "nope"),
                    ("GET", "/v2/elsewhere", [:], nil, 404, "no route"),
                    ("GET", encode, [:], nil, 405, "POST"),
                    ("DELETE", "/v1/models", [:], nil, 405, "DELETE"),
                    ("POST", encode, ["content-type": "text/plain"], Array("hello".utf8), 415, "text/plain"),
                    ("POST", encode, ["content-type": "image/png"], Array("GIF89a not really".utf8), 415, "not a PNG or JPEG"),
                    ("POST", encode, ["content-type": "image/png"], [], 400, "empty"),
                    ("POST", encode, ["content-type": "image/png"], Array(photo.prefix(photo.count / 3)), 400, "corrupt"),
                    ("POST", encode, ["content-type": "image/png"], big, 413, "490000"),
                    ("POST", encode, ["content-type": "image/png", "accept": "text/html"], photo, 406, "text/html"),
                    ("POST", encode, ["content-type": "image/png", "accept": "application/json;q=high"], photo, 400, "q=high"),
                    ("POST", decode, ["content-type": "application/json", "accept": "image png"],
                     Array(#"{"shape":[1,2],"ids":[1,2]}"#.utf8), 400, "not a media range"),
                    ("POST", encode + "?resize=stretch", ["content-type": "image/png"], photo, 400, "stretch"),
                    ("POST", decode, ["content-type": "application/json"], Array(#"{"shape":[1,2],"ids":[1,40]}"#.utf8), 422, "40"),
                    ("POST", decode, ["content-type": "application/json"], Array(#"{"shape":[1,2],"ids":[1]}"#.utf8), 422, "needs 2 ids"),
                    ("POST", decode, ["content-type": "application/json"], Array(#"{"shape":[1,2],"ids":[1,2.5]}"#.utf8), 422, "not an integer"),
                    ("POST", decode, ["content-type": "application/json"], Array("[".utf8), 400, "JSON"),
                    ("POST", decode, ["content-type": "application/x-npy"], Array("not numpy".utf8), 400, ".npy"),
                ]
                for (method, path, headers, body, status, fragment) in cases {
                    let answer = try await curl.request(method, path, headers: headers, body: body)
                    check(answer, method, path, version)
                    #expect(answer.status == status, "\(method) \(path)")
                    #expect(answer.errorMessage?.contains(fragment) == true, "'\(answer.errorMessage ?? "")' names '\(fragment)'")
                }
                let allow = try await curl.request("GET", encode)
                #expect(allow.headers["allow"] == "POST")
                let fine = try await curl.request("POST", encode, headers: ["content-type": "image/png"], body: photo)
                #expect(fine.status == 200, "the server goes on serving after every error")
            }
        }

        @Test func bodiesOverTheLimitGet413FromTheHTTPLayer() async throws {
            var http = HTTPServerConfiguration()
            http.maxRequestBodyBytes = 4096
            try await withLiveServer(models: [try TinyModels.model()], http: http) { live in
                for version in Curl.Version.allCases {
                    let answer = try await live.curl(version).request("POST", "/v1/models/tiny/encode",
                                                                      headers: ["content-type": "image/png"],
                                                                      body: try Fixtures.photo("rocket"))
                    #expect(answer.status == 413, "\(version)")
                    #expect(answer.errorMessage != nil, "a JSON error")
                }
                #expect(try await live.curl(.http2).request("GET", "/healthz").status == 200)
            }
        }
    }
}
