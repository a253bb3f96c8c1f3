import Foundation
import Logging
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// Graceful shutdown: stop accepting, GOAWAY, in-flight handlers finish (up to a deadline).
    @Suite struct DrainTests {
        static func server() throws -> TestServer {
            try TestServer { $0.shutdownNoticeDelay = .milliseconds(100) }
        }

        @Test func http2InFlightRequestFinishesAfterGoaway() async throws {
            let s = try Self.server()
            let c = try RawClient(port: s.port)
            try await blocking { c.send(H2.start() + H2.get("/slow?ms=400", stream: 1)) }
            try await waitFor("handler to start") { s.probe.started == 1 }
            async let clean = s.server.drain(deadline: .seconds(5))
            let frames = try await blocking {
                H2.parse(c.readUntil { H2.parse($0).contains { $0.stream == 1 && $0.flags & H2.endStream != 0 } })
            }
            let goaways = frames.filter { $0.type == H2.FrameType.goaway.rawValue }
            // RFC 9113 §6.8: first the notice (last id 2^31-1), then the final GOAWAY naming stream 1.
            #expect(goaways.count == 2)
            #expect(goaways.first.map { Array($0.payload[0..<4]) } == [0x7f, 0xff, 0xff, 0xff])
            #expect(goaways.last.map { Array($0.payload[0..<4]) } == [0, 0, 0, 1])
            #expect(frames.contains { $0.stream == 1 && $0.type == H2.FrameType.data.rawValue && $0.payload == Array("slow".utf8) })
            #expect(await clean)
            #expect(s.probe.cancelled == 0)
            // Not accepting any more.
            let port = s.port
            #expect(throws: (any Error).self) { _ = try RawClient(port: port) }
        }

        @Test func http1InFlightRequestIsAnsweredWithConnectionClose() async throws {
            let s = try Self.server()
            let c = try RawClient(port: s.port)
            try await blocking { c.send("GET /slow?ms=300 HTTP/1.1\r\nhost: x\r\n\r\n") }
            try await waitFor("handler to start") { s.probe.started == 1 }
            async let clean = s.server.drain(deadline: .seconds(5))
            let reply = try await blocking { () -> String in
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n") && reply.contains("connection: close\r\n") && reply.hasSuffix("slow"))
            #expect(await clean)
        }

        @Test func deadlineCancelsWhatIsStillRunning() async throws {
            let s = try Self.server()
            let c = try RawClient(port: s.port)
            try await blocking { c.send(H2.start() + H2.get("/hang", stream: 1)) }
            try await waitFor("handler to start") { s.probe.started == 1 }
            let clean = await s.server.drain(deadline: .milliseconds(300))
            #expect(!clean)
            try await waitFor("hanging handler to be cancelled") { s.probe.cancelled == 1 }
            #expect(s.server.stats().connectionsClosedByReason["drain_deadline"] == 1)
            withExtendedLifetime(c) {}
        }

        @Test func signalStartsTheDrain() async throws {
            let s = try Self.server()
            let drained = LockedFlag()
            let signalled = LockedFlag()
            // SIGUSR2 stands in for SIGTERM so the test runner keeps its own handling.
            let handle = s.server.installSignalDrain(signals: [SIGUSR2], deadline: .seconds(2),
                                                     onSignal: { _ in signalled.set() },
                                                     onDrained: { clean in if clean { drained.set() } })
            #expect(try await curl("\(s.base)/hello", http2: true) == "200|hello")
            kill(getpid(), SIGUSR2)
            try await waitFor("drain to finish") { drained.isSet }
            #expect(signalled.isSet)
            withExtendedLifetime(handle) {}
        }

        @Test func statsCountWhatHappened() async throws {
            let s = try Self.server()
            _ = try await curl("\(s.base)/hello", http2: true)
            _ = try await curl("\(s.base)/missing", http2: false)
            try await waitFor("connections to close") { s.server.stats().connectionsOpen == 0 }
            let st = s.server.stats()
            #expect(st.connectionsTotal == 2 && st.http1Connections == 1 && st.http2Connections == 1)
            #expect(st.requestsTotal == 2 && st.requestsByStatus == [200: 1, 404: 1])
            #expect(st.streamsTotal == 1 && st.streamsOpen == 0 && st.handlersRunning == 0)
            #expect(st.bytesIn > 0 && st.bytesOut > 0)
            await s.stop()
        }
    

        @Test func accessLogLines() async throws {
            let store = CapturingLogHandler.Store()
            let access = Logger(label: "test.access") { _ in CapturingLogHandler(store: store) }
            let server = HTTPServer(handler: TestHandler(probe: HandlerProbe()), accessLogger: access)
            try server.start(host: "127.0.0.1", port: 0)
            let base = "http://127.0.0.1:\(server.boundPort)"
            _ = try await curl("\(base)/bytes?n=7", http2: true)
            _ = try await curl("\(base)/echo", http2: false, ["--data-binary", "abc"])
            try await waitFor("two access lines") { store.lines.count == 2 }
            let lines = store.lines.sorted()
            // method, path, status, bytes in/out, duration, protocol, peer
            #expect(lines[0].hasPrefix("GET /bytes?n=7 200 in=0 out=7 ") && lines[0].contains("ms HTTP/2 127.0.0.1:"), "\(lines[0])")
            #expect(lines[1].hasPrefix("POST /echo 200 in=3 out=3 ") && lines[1].contains("ms HTTP/1.1 "), "\(lines[1])")
            await server.stop()
        }
    }
}
