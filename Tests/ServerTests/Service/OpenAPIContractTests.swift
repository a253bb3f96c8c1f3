import Testing
@testable import Server

/// openapi.json against the router and against what the service answers.
@Suite struct OpenAPIContractTests {
    let spec: OpenAPISpec

    init() throws { spec = try OpenAPISpec() }

    static let routes: [Route] = [.encode(model: "m"), .decode(model: "m"), .models, .model("m"), .healthz, .readyz, .metrics]

    @Test func everyRouteIsDocumentedWithItsMethods() {
        for route in Self.routes {
            let methods = spec.operations[route.template]
            #expect(methods != nil, "\(route.template) is in openapi.json")
            let documented = Set(methods?.keys.map { $0.uppercased() } ?? [])
            #expect(documented == Set(route.methods).subtracting(["HEAD"]), "methods of \(route.template)")
        }
        #expect(Set(spec.operations.keys) == Set(Self.routes.map(\.template)), "no documented path is missing a route")
    }

    @Test func everyErrorTypeIsDocumented() {
        let types: [ServiceError] = [.badRequest(""), .notFound(""), .methodNotAllowed("", path: "", allowed: []),
                                     .notAcceptable("", offered: []), .tooLarge(""), .unsupportedMediaType(""),
                                     .invalidIds(""), .overloaded(model: "", retryAfterSeconds: 1), .unavailable(""),
                                     .deadlineExceeded(model: "", after: 1), .internalError("")]
        for error in types { #expect(spec.errorTypes.contains(error.type), "\(error.type)") }
    }

    @Test func theServicesAnswersAreDocumented() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let png = try TestImages.png()
        let ids = Array(#"{"shape":[2,2],"ids":[1,2,3,4]}"#.utf8)
        let requests: [(String, String, [String: String], [UInt8])] = [
            ("POST", "/v1/models/tiny/encode", ["content-type": "image/png"], png),
            ("POST", "/v1/models/tiny/encode", ["content-type": "image/png"], []),
            ("POST", "/v1/models/tiny/encode", ["content-type": "text/plain"], [1]),
            ("POST", "/v1/models/tiny/encode", ["content-type": "image/png", "accept": "text/html"], png),
            ("POST", "/v1/models/nope/encode", ["content-type": "image/png"], png),
            ("GET", "/v1/models/tiny/encode", [:], []),
            ("POST", "/v1/models/tiny/decode", ["content-type": "application/json"], ids),
            ("POST", "/v1/models/tiny/decode", ["content-type": "application/json"], Array(#"{"shape":[1,1],"ids":[99]}"#.utf8)),
            ("POST", "/v1/models/tiny/decode", ["content-type": "application/json"], Array(#"{"shape":[900,900],"ids":[]}"#.utf8)),
            ("GET", "/v1/models", [:], []), ("GET", "/v1/models/tiny", [:], []), ("GET", "/v1/models/nope", [:], []),
            ("GET", "/healthz", [:], []), ("GET", "/readyz", [:], []), ("GET", "/metrics", [:], []),
            ("PUT", "/metrics", [:], []),
        ]
        var seen: Set<Int> = []
        for (method, path, headers, body) in requests {
            let r = await h.send(method, path, headers: headers, body: body)
            seen.insert(r.status)
            let template = Route.match(path)?.template ?? "unmatched"
            #expect(spec.documents(template: template, method: method, status: r.status),
                    "\(method) \(path) answered \(r.status), which openapi.json does not list")
        }
        #expect(seen.isSuperset(of: [200, 400, 404, 405, 406, 413, 415, 422]))
    }
}
