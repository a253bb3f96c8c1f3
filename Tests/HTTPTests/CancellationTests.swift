import Foundation
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// Stream resets and vanished clients cancel handlers and free the stream; the server goes on.
    @Suite struct CancellationTests {
        @Test func resetStreamCancelsItsHandler() async throws {
            let s = try TestServer()
            let c = try RawClient(port: s.port)
            try await blocking { c.send(H2.start() + H2.get("/hang", stream: 1)) }
            try await waitFor("handler to start") { s.probe.started == 1 }
            try await blocking { c.send(H2.rst(1)) }
            try await waitFor("handler to be cancelled") { s.probe.cancelled == 1 }
            try await waitFor("stream to be freed") { s.server.stats().streamsOpen == 0 }
            // The connection itself goes on.
            let got = try await blocking { () -> [H2.Frame] in
                c.send(H2.get("/hello", stream: 3))
                return H2.parse(c.readUntil { H2.parse($0).contains { $0.stream == 3 && $0.flags & H2.endStream != 0 } })
            }
            #expect(got.contains { $0.stream == 3 && $0.type == H2.FrameType.data.rawValue && $0.payload == Array("hello".utf8) })
            let stats = s.server.stats()
            #expect(stats.resetsReceived == 1 && stats.handlersCancelled == 1)
            await s.stop()
        }

        @Test func resetMidRequestBodyFreesTheStreamWithoutRunningAHandler() async throws {
            let s = try TestServer()
            let c = try RawClient(port: s.port)
            try await blocking {
                let headers = H2.frame(.headers, flags: H2.endHeaders, stream: 1, H2.requestBlock("POST", "/echo"))
                let data = (0..<8).flatMap { _ in H2.frame(.data, stream: 1, TestHandler.pattern(16000)) }
                c.send(H2.start() + headers + data)
                _ = c.readUntil { H2.parse($0).contains { $0.type == H2.FrameType.windowUpdate.rawValue && $0.stream == 1 } || $0.count > 40 }
                c.send(H2.rst(1))
            }
            try await waitFor("stream to be freed") {
                let st = s.server.stats()
                return st.resetsReceived == 1 && st.streamsOpen == 0
            }
            #expect(s.probe.started == 0)
            try await expectServing(s)
            await s.stop()
        }

        @Test func clientVanishingMidResponseClosesAndCancels() async throws {
            let s = try TestServer()
            let port = s.port
            // A 30 MB response with the default 64 KiB window: the server is mid-response when we go.
            try await blocking {
                let c = try RawClient(port: port)
                c.send(H2.preface + H2.settings() + H2.get("/bytes?n=31457280", stream: 1))
                _ = c.readUntil { H2.parse($0).contains { $0.type == H2.FrameType.data.rawValue } }
            }
            try await waitFor("connection to close") { s.server.stats().connectionsOpen == 0 }
            // A handler still running when its client vanishes is cancelled: HTTP/2 and HTTP/1.1.
            try await blocking {
                let c = try RawClient(port: port)
                c.send(H2.start() + H2.get("/hang", stream: 1))
            }
            try await waitFor("HTTP/2 handler to be cancelled") { s.probe.cancelled == 1 }
            try await blocking {
                let c = try RawClient(port: port)
                c.send("GET /hang HTTP/1.1\r\nhost: x\r\n\r\n")
                _ = c.readUntil(timeout: .milliseconds(200)) { _ in false }
            }
            try await waitFor("HTTP/1.1 handler to be cancelled") { s.probe.cancelled == 2 }
            try await waitFor("connections to close") { s.server.stats().connectionsOpen == 0 }
            #expect(s.server.stats().streamsOpen == 0)
            try await expectServing(s)
            await s.stop()
        }
    }
}
