import Testing
@testable import Server

@Suite struct MultipartTests {
    private func form(_ parts: [(name: String, type: String, body: [UInt8])], boundary: String) -> [UInt8] {
        var out: [UInt8] = Array("preamble to ignore\r\n".utf8)
        for part in parts {
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"; filename=\"\(part.name).png\"\r\nContent-Type: \(part.type)\r\n\r\n".utf8)
            out += part.body + Array("\r\n".utf8)
        }
        return out + Array("--\(boundary)--\r\nepilogue".utf8)
    }

    @Test func parsesPartsInOrderWithTheirHeaders() throws {
        // Bodies that hold CRLF and dashes must come through untouched.
        let first: [UInt8] = [0x89, 0x50, 0x0D, 0x0A, 0x2D, 0x2D, 0x00]
        let second: [UInt8] = Array("--not-the-boundary\r\n".utf8)
        let body = form([("a", "image/png", first), ("b", "image/jpeg", second), ("c", "image/png", [])],
                        boundary: "XyZ")
        let media = try #require(MediaType(parsing: "multipart/form-data; boundary=\"XyZ\""))
        let parts = try Multipart.parse(body, boundary: try Multipart.boundary(of: media), maxParts: 8)
        #expect(parts.map(\.body) == [first, second, []])
        #expect(parts.map(\.name) == ["a", "b", "c"])
        #expect(parts[0].filename == "a.png")
        #expect(parts.map(\.contentType) == ["image/png", "image/jpeg", "image/png"])
    }

    @Test func mixedWriterOutputParsesBack() throws {
        let parts = [MultipartPart(headers: ["content-type": "image/png"], body: [1, 2, 3]),
                     MultipartPart(headers: ["content-type": "image/png"], body: Array("\r\n--x".utf8))]
        let boundary = Multipart.makeBoundary(avoiding: parts)
        let body = Multipart.write(parts, boundary: boundary)
        #expect(try Multipart.parse(body, boundary: boundary, maxParts: 8) == parts)
    }

    @Test func rejectsBrokenBodies() {
        let good = form([("a", "image/png", [1, 2])], boundary: "B")
        let cases: [([UInt8], String, Int)] = [
            (Array("no boundary here".utf8), "no boundary line", 400),
            (Array(good.prefix(good.count - 20)), "no closing boundary", 400),
            (Array("--B\r\nContent-Type image/png\r\n\r\nx\r\n--B--".utf8), "malformed header", 400),
            (form(Array(repeating: ("a", "image/png", [1]), count: 3), boundary: "B"), "more than 2 parts", 413),
        ]
        for (body, fragment, status) in cases {
            let error = #expect(throws: ServiceError.self) { try Multipart.parse(body, boundary: "B", maxParts: 2) }
            #expect(error?.status == status)
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
        }
    }

    @Test func needsABoundaryParameter() throws {
        let media = try #require(MediaType(parsing: "multipart/form-data"))
        #expect(throws: ServiceError.self) { try Multipart.boundary(of: media) }
    }
}

@Suite struct AcceptTests {
    let offers = ["application/json", "application/x-npy", "application/octet-stream"]

    @Test func defaultsToTheFirstOffer() throws {
        #expect(try Accept.negotiate(nil, offers: offers) == "application/json")
        #expect(try Accept.negotiate("", offers: offers) == "application/json")
        #expect(try Accept.negotiate("*/*", offers: offers) == "application/json")
    }

    @Test func followsQualityAndSpecificity() throws {
        #expect(try Accept.negotiate("application/x-npy", offers: offers) == "application/x-npy")
        #expect(try Accept.negotiate("application/json;q=0.5, application/octet-stream", offers: offers)
            == "application/octet-stream")
        #expect(try Accept.negotiate("application/*;q=0.2, application/x-npy;q=0.9", offers: offers) == "application/x-npy")
        #expect(try Accept.negotiate("*/*;q=0.1, application/json;q=0", offers: offers) == "application/x-npy")
        #expect(try Accept.negotiate("IMAGE/JPEG; q=1, image/png;q=0.8", offers: ["image/png", "image/jpeg"]) == "image/jpeg")
    }

    /// RFC 9110 §12.4.2 and §12.5.1: weights are 0 to 1 with at most three decimals; empty list
    /// elements are allowed; anything else is a 400 that quotes it.
    @Test func malformedRangesAndWeightsAre400() throws {
        #expect(try Accept.negotiate("application/x-npy;q=0.999, , application/json;q=1.000", offers: offers) == "application/json")
        #expect(try Accept.negotiate("*;q=0.5", offers: offers) == "application/json")
        let cases = [("application/json; q=abc", "q=abc is not a weight"), ("application/json;q=1.5", "q=1.5"),
                     ("application/json;q=0.1234", "q=0.1234"), ("application/json;q=-0", "q=-0"),
                     ("application/json;q=.5", "q=.5"), ("garbage", "\"garbage\" is not a media range"),
                     ("application/json, text", "\"text\" is not a media range"), ("a/b/c", "\"a/b/c\"")]
        for (header, fragment) in cases {
            do {
                _ = try Accept.negotiate(header, offers: offers)
                Issue.record("\(header) was accepted")
            } catch {
                #expect(error.status == 400 && error.message.contains(fragment), "\(header): \(error.message)")
            }
        }
    }

    @Test func answersNilWhenNothingMatches() throws {
        #expect(try Accept.negotiate("text/html", offers: offers) == nil)
        #expect(try Accept.negotiate("application/json;q=0", offers: ["application/json"]) == nil)
    }

    @Test func parsesMediaTypes() throws {
        let media = try #require(MediaType(parsing: "Multipart/Form-Data ; boundary=\"a;b\"; charset=utf-8"))
        #expect(media.essence == "multipart/form-data")
        #expect(media.parameters == ["boundary": "a;b", "charset": "utf-8"])
        #expect(MediaType(parsing: "nonsense") == nil)
    }

    /// One type/subtype of tokens: two content-type headers (which arrive joined by a comma),
    /// spaces or an empty half are not a media type.
    @Test func mediaTypeIsOneTypeAndSubtypeOfTokens() {
        for text in ["application/json, application/x-npy", "image/png, image/jpeg", "image /png", "image/",
                     "/png", "image/png/x", "im@ge/png"] {
            #expect(MediaType(parsing: text) == nil, "\(text)")
        }
        #expect(MediaType(parsing: "application/vnd.api+json; q=1")?.essence == "application/vnd.api+json")
    }
}
