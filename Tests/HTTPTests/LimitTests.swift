import Foundation
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// Each limit tripped, answered with its status (JSON error body), and the server still serving.
    @Suite struct LimitTests {
        static func server() throws -> TestServer {
            try TestServer {
                $0.maxRequestBodyBytes = 1 << 20
                $0.maxHeaderBytes = 8 << 10
                $0.maxHeaderCount = 50
            }
        }

        @Test(arguments: [true, false])
        func bodyOverTheLimitIs413(http2: Bool) async throws {
            let s = try Self.server()
            let file = try TestPaths.tempFile("413-\(http2).bin", TestHandler.pattern(3 << 20))
            // Declared by content-length: refused before the body is read.
            let declared = try await curl("\(s.base)/echo", http2: http2, ["--data-binary", "@\(file.path)"])
            #expect(declared.hasPrefix("413|") && declared.contains("\"type\":\"body_too_large\""), "\(declared)")
            // Not declared (chunked on HTTP/1.1, no content-length on HTTP/2): refused mid-body.
            let streamed = try await curl("\(s.base)/echo", http2: http2,
                                          ["-H", "Transfer-Encoding: chunked", "-H", "Expect:", "--data-binary", "@\(file.path)"])
            #expect(streamed.hasPrefix("413|"), "\(streamed)")
            #expect(s.probe.started == 0, "no handler ran for a refused body")
            #expect(s.server.stats().requestsByStatus[413] == 2)
            // Just under the limit is fine.
            let ok = try TestPaths.tempFile("ok-\(http2).bin", TestHandler.pattern(1 << 20))
            #expect(try await curl("\(s.base)/echo", http2: http2, ["--data-binary", "@\(ok.path)", "-o", "/dev/null"]) == "200|")
            try await expectServing(s)
            await s.stop()
        }

        @Test(arguments: [true, false])
        func headersOverTheLimitsAre431(http2: Bool) async throws {
            let s = try Self.server()
            let big = try await curl("\(s.base)/hello", http2: http2, ["-H", "x-big: " + String(repeating: "b", count: 9000)])
            #expect(big.hasPrefix("431|") && big.contains("headers_too_large"), "\(big)")
            let many = try await curl("\(s.base)/hello", http2: http2, (0..<60).flatMap { ["-H", "x-h\($0): v"] })
            #expect(many.hasPrefix("431|"), "\(many)")
            #expect(s.probe.started == 0)
            try await expectServing(s)
            await s.stop()
        }

        @Test func malformedHTTP1Is400AndClosed() async throws {
            let s = try Self.server()
            let port = s.port
            let reply = try await blocking { () -> String in
                let c = try RawClient(port: port)
                c.send("GARBAGE\r\n\r\n")
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            #expect(reply.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && reply.contains("connection: close"), "\(reply)")
            #expect(reply.hasSuffix(#"{"error":"malformed request line","type":"bad_request"}"#))
            let te = try await blocking { () -> String in
                let c = try RawClient(port: port)
                c.send("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            #expect(te.hasPrefix("HTTP/1.1 501 "), "\(te)")
            try await expectServing(s)
            await s.stop()
        }

        @Test func connectionsOverTheLimitAreClosed() async throws {
            let s = try TestServer { $0.maxConnections = 2 }
            let port = s.port
            let held = try await blocking { () -> [RawClient] in
                let a = try RawClient(port: port), b = try RawClient(port: port)
                a.send(H2.start()); b.send(H2.start())
                _ = a.readUntil { !$0.isEmpty }; _ = b.readUntil { !$0.isEmpty }
                return [a, b]
            }
            let thirdClosed = try await blocking { () -> Bool in
                let c = try RawClient(port: port)
                return c.waitForClose(timeout: .seconds(5)) && c.received.isEmpty
            }
            #expect(thirdClosed)
            #expect(s.server.stats().connectionsRejected == 1)
            withExtendedLifetime(held) {}
            try await expectServingAfterReleasing(held, s)
            await s.stop()
        }

        private func expectServingAfterReleasing(_ held: [RawClient], _ s: TestServer) async throws {
            for c in held { Glibc.shutdown(c.fd, Int32(SHUT_RDWR)) }
            try await waitFor("held connections to close") { s.server.stats().connectionsOpen == 0 }
            try await expectServing(s)
        }

        @Test func runningHandlersPerConnectionAreCapped() async throws {
            let s = try TestServer { $0.maxRunningHandlersPerConnection = 3 }
            let r = try await run("nghttp", ["-n", "-m", "12", "\(s.base)/slow?ms=50"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(s.server.stats().requestsByStatus[200] == 12)
            #expect(s.probe.maxRunning <= 3 && s.probe.maxRunning >= 2, "max running \(s.probe.maxRunning)")
            await s.stop()
        }

        @Test func streamsOverMaxConcurrentStreamsAreRefused() async throws {
            let s = try TestServer { $0.maxConcurrentStreams = 4 }
            let port = s.port
            let frames = try await blocking { () -> [H2.Frame] in
                let c = try RawClient(port: port)
                // Before our ACK of its SETTINGS, nghttp2 refuses streams over the pending limit.
                c.send(H2.start() + (0..<8).flatMap { H2.get("/hang", stream: Int32(1 + 2 * $0)) })
                let got = c.readUntil { H2.parse($0).filter { $0.type == H2.FrameType.rstStream.rawValue }.count >= 4 }
                return H2.parse(got)
            }
            let refused = frames.filter { $0.rstError == 0x7 }  // REFUSED_STREAM (RFC 9113 §8.7)
            #expect(refused.count == 4, "\(frames.map(\.type))")
            try await waitFor("hanging handlers to be cancelled after the connection closed") { s.probe.cancelled == 4 }
            try await expectServing(s)
            await s.stop()
        }
    }
}
