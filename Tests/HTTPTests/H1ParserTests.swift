import Testing
@testable import HTTP

/// The HTTP/1.1 parser fed whole, and one byte at a time: the same requests must come out.
@Suite struct H1ParserTests {
    enum Event: Equatable {
        case head(String)
        case message(method: String, target: String, body: [UInt8], keepAlive: Bool)
        case failure(Int)
    }

    /// Feeds `input` in pieces of `chunk` bytes and collects what the parser reports.
    func events(_ input: [UInt8], chunk: Int, maxBody: Int = 1 << 20, maxHeaderBytes: Int = 4096,
                maxHeaderCount: Int = 20) -> [Event] {
        var p = H1Parser(maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount, maxBodyBytes: maxBody)
        var out: [Event] = []
        var offset = 0
        outer: while offset < input.count {
            let piece = Array(input[offset..<min(offset + chunk, input.count)])
            offset += piece.count
            var used = 0
            while used < piece.count || piece.isEmpty {
                let (n, step) = piece.withUnsafeBytes { p.parse(UnsafeRawBufferPointer(rebasing: $0[used...])) }
                used += n
                switch step {
                case .needMore: if used < piece.count { Issue.record("needMore with input left") }; continue outer
                case .head(let h): out.append(.head(h.target))
                case .message(let m):
                    out.append(.message(method: m.head.method, target: m.head.target, body: m.body, keepAlive: m.head.keepAlive))
                case .failure(let e): out.append(.failure(e.status)); break outer
                }
                if used == piece.count { continue outer }
            }
        }
        return out
    }

    func both(_ s: String, maxBody: Int = 1 << 20, maxHeaderBytes: Int = 4096, maxHeaderCount: Int = 20) -> [Event] {
        both(Array(s.utf8), maxBody: maxBody, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
    }

    func both(_ input: [UInt8], maxBody: Int = 1 << 20, maxHeaderBytes: Int = 4096, maxHeaderCount: Int = 20) -> [Event] {
        let whole = events(input, chunk: 1 << 20, maxBody: maxBody, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
        let bytewise = events(input, chunk: 1, maxBody: maxBody, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
        #expect(whole == bytewise, "split input changed the result")
        return bytewise
    }

    @Test func simpleGetAndPipelinedSecond() {
        let e = both("GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nhost: h\r\nConnection: close\r\n\r\n")
        #expect(e == [.message(method: "GET", target: "/a?x=1", body: [], keepAlive: true),
                      .message(method: "GET", target: "/b", body: [], keepAlive: false)])
    }

    @Test func contentLengthBody() {
        let e = both("POST /e HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n")
        #expect(e == [.head("/e"), .message(method: "POST", target: "/e", body: Array("hello".utf8), keepAlive: true),
                      .message(method: "GET", target: "/", body: [], keepAlive: false)])
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        let e = both("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n")
        #expect(e == [.head("/c"), .message(method: "POST", target: "/c", body: Array("hello0123456789".utf8), keepAlive: true)])
    }

    @Test func bareLFLineEndingsAndLeadingEmptyLine() {
        let e = both("\r\nGET /lf HTTP/1.1\nHost: h\n\n")
        #expect(e == [.message(method: "GET", target: "/lf", body: [], keepAlive: true)])
    }

    @Test func headerNamesAreLowercasedAndValuesTrimmed() {
        var p = H1Parser(maxHeaderBytes: 4096, maxHeaderCount: 20, maxBodyBytes: 100)
        let input = Array("GET / HTTP/1.1\r\nX-Thing:   v a l  \r\n\r\n".utf8)
        let (_, step) = input.withUnsafeBytes { p.parse($0) }
        guard case .message(let m) = step else { Issue.record("no message"); return }
        #expect(m.head.headers.fields.map { "\($0.name)=\($0.value)" } == ["x-thing=v a l"])
    }

    @Test func limitsAnswerTheirStatus() {
        #expect(both("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", maxBody: 100) == [.failure(413)])
        #expect(both("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + String(repeating: "z", count: 64) + "\r\n40\r\n",
                     maxBody: 100) == [.head("/"), .failure(413)])
        let big = "GET / HTTP/1.1\r\nx-big: " + String(repeating: "a", count: 5000) + "\r\n\r\n"
        #expect(both(big) == [.failure(431)])
        let many = "GET / HTTP/1.1\r\n" + (0..<21).map { "h\($0): v\r\n" }.joined() + "\r\n"
        #expect(both(many) == [.failure(431)])
    }

    @Test func malformedRequestsAre400Or501Or505() {
        #expect(both("GARBAGE\r\n\r\n") == [.failure(400)])
        #expect(both("GET / HTTP/1.1\r\n folded\r\n\r\n") == [.failure(400)])
        #expect(both("GET / HTTP/1.1\r\nbad name: v\r\n\r\n") == [.failure(400)])
        #expect(both("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n") == [.failure(400)])
        #expect(both("GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n") == [.failure(400)])
        #expect(both("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == [.failure(400)])
        #expect(both("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == [.head("/"), .failure(400)])
        #expect(both("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n") == [.head("/"), .failure(400)])
        #expect(both("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == [.failure(501)])
        #expect(both("GET / HTTP/1.1\r\nTransfer-Encoding: gzip;level=1, chunked\r\n\r\n") == [.failure(501)])
        var parser = H1Parser(maxHeaderBytes: 4096, maxHeaderCount: 20, maxBodyBytes: 100)
        let (_, step) = Array("POST / HTTP/1.1\r\nTransfer-Encoding: Gzip, chunked\r\n\r\n".utf8).withUnsafeBytes { parser.parse($0) }
        guard case .failure(let error) = step else { Issue.record("no failure"); return }
        #expect(error.message == "unsupported transfer-encoding 'gzip, chunked' (only chunked)")
        for malformed in ["chun<ed", "--- chunked", "chunked x", ";q=1", "\"chunked\""] {
            #expect(both("POST / HTTP/1.1\r\nTransfer-Encoding: \(malformed)\r\n\r\n") == [.failure(400)], "\(malformed)")
        }
        #expect(both("GET / HTTP/2.0\r\n\r\n") == [.failure(505)])
        #expect(both("GET / HTTP/3.1\r\n\r\n") == [.failure(505)])
    }

    /// RFC 9112 §2.3: a version that is not "HTTP/" DIGIT "." DIGIT is a malformed request line.
    @Test func malformedVersionsAre400() {
        for version in ["HTTP/1", "HTTP/11", "HTTP/1.1:", "HTTP/1.x", "HTTP/---1.1", "HTTP/1.10", "http/1.1", "HTTP/1,1"] {
            #expect(both("GET / \(version)\r\nHost: h\r\n\r\n") == [.failure(400)], "\(version)")
        }
    }

    /// RFC 9110 §6.2: a later minor version of HTTP/1 is answered as the highest we speak, 1.1.
    @Test func laterMinorVersionsAreServedAsHTTP11() {
        #expect(both("GET /m HTTP/1.2\r\nHost: h\r\n\r\n") == [.message(method: "GET", target: "/m", body: [], keepAlive: true)])
    }
}

@Suite struct FramingUnitTests {
    @Test func snifferTellsTheProtocolsApart() {
        #expect(ProtocolSniffer.classify(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)) == .http2)
        #expect(ProtocolSniffer.classify(Array("PRI * HT".utf8)) == .needMore)
        #expect(ProtocolSniffer.classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http1)
        #expect(ProtocolSniffer.classify(Array("P".utf8)) == .needMore)
        #expect(ProtocolSniffer.classify(Array("POST".utf8)) == .http1)
    }

    @Test func scannerFindsBackwardsStreamIDsAcrossSplitReads() {
        let bytes = H2.preface + H2.settings() + H2.get("/a", stream: 5) + H2.get("/b", stream: 7)
            + H2.frame(.headers, flags: H2.endHeaders | H2.endStream, stream: 5, []) // trailers on 5: fine
            + H2.get("/c", stream: 3)
        let expectedOffset = bytes.count - H2.get("/c", stream: 3).count
        for chunk in [1, 7, bytes.count] {
            var scanner = H2FrameScanner()
            var offset = 0
            var found: Int?
            while offset < bytes.count && found == nil {
                let piece = Array(bytes[offset..<min(offset + chunk, bytes.count)])
                if let at = piece.withUnsafeBytes({ scanner.firstBackwardsHeaders(in: $0) { _ in false } }) {
                    found = offset + at
                }
                offset += piece.count
            }
            // With one-byte reads the frame header began in an earlier read: offset clamps to that read.
            #expect(found != nil && found! <= expectedOffset + 8 && found! >= (chunk == 1 ? expectedOffset + 8 : expectedOffset),
                    "chunk \(chunk): \(String(describing: found)) vs \(expectedOffset)")
            #expect(scanner.maxStreamID == 7)
        }
    }

    @Test func errorBodiesAreJSON() {
        let r = HTTPResponse.error(status: 413, "too \"big\"\n", type: "body_too_large")
        #expect(String(decoding: r.body, as: UTF8.self) == #"{"error":"too \"big\"\n","type":"body_too_large"}"#)
        #expect(r.headers["Content-Type"] == "application/json")
    }
}
