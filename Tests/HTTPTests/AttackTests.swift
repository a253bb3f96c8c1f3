import Foundation
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// Each attack from shared/reference/serving-anchors.md §3.3, bounded in count and time: the
    /// attacking connection gets a GOAWAY or is closed, and a normal client is served during/after.
    @Suite struct AttackTests {
        static func server(_ extra: (inout HTTPServerConfiguration) -> Void = { _ in }) throws -> TestServer {
            try TestServer {
                $0.streamResetBurst = 100
                $0.streamResetRatePerSecond = 10
                $0.maxRunningHandlersPerConnection = 8
                $0.prefaceTimeout = .milliseconds(400)
                $0.headerTimeout = .milliseconds(400)
                $0.writeTimeout = .milliseconds(400)
                extra(&$0)
            }
        }

        /// Sends `attack` on a fresh connection (without reading), then waits for a GOAWAY or close.
        static func attack(_ port: Int, _ attack: [UInt8], timeout: Duration = .seconds(5)) async throws -> (goaway: H2.Frame?, closed: Bool) {
            try await blocking {
                let c = try RawClient(port: port)
                c.send(attack)
                let closed = c.waitForClose(timeout: timeout)
                return (H2.goaway(in: c.received), closed)
            }
        }

        @Test func rapidReset() async throws {
            let s = try Self.server()
            // CVE-2023-44487: open and reset streams as fast as possible, 1000 times.
            let frames = (0..<1000).flatMap { i -> [UInt8] in
                let id = Int32(1 + 2 * i)
                return H2.get("/hang", stream: id) + H2.rst(id)
            }
            let rssBefore = residentBytes()
            async let normal = curl("\(s.base)/hello", http2: true)
            let (goaway, closed) = try await Self.attack(s.port, H2.start() + frames)
            #expect(residentBytes() - rssBefore < 64 << 20, "memory stayed bounded")
            #expect(goaway != nil && closed)
            #expect(try await normal == "200|hello")
            #expect(s.probe.maxRunning <= 8, "running handlers stayed under the cap: \(s.probe.maxRunning)")
            try await waitFor("every handler to end") { s.server.stats().handlersRunning == 0 }
            #expect(s.server.stats().resetsReceived > 100)
            try await expectServing(s)
            await s.stop()
        }

        @Test func continuationFlood() async throws {
            let s = try Self.server()
            // CVE-2024-28182: one header block split over endless CONTINUATION frames.
            let first = H2.frame(.headers, flags: H2.endStream, stream: 1, H2.requestBlock("GET", "/hello"))
            let flood = (0..<200).flatMap { i in H2.frame(.continuation, stream: 1, H2.literal("x-c\(i)", "v")) }
            let (goaway, closed) = try await Self.attack(s.port, H2.start() + first + flood)
            #expect(goaway != nil || closed)
            #expect(s.probe.started == 0)
            try await expectServing(s)
            await s.stop()
        }

        @Test(arguments: ["settings", "ping"])
        func controlFrameFlood(kind: String) async throws {
            let s = try Self.server()
            // CVE-2019-9515 / CVE-2019-9512: frames that each demand an ACK, never reading the ACKs.
            let one = kind == "settings" ? H2.settings() : H2.frame(.ping, [1, 2, 3, 4, 5, 6, 7, 8])
            let flood = [UInt8]((0..<30_000).flatMap { _ in one })
            let rssBefore = residentBytes()
            let (_, closed) = try await Self.attack(s.port, H2.start() + flood)
            #expect(residentBytes() - rssBefore < 64 << 20, "memory stayed bounded")
            #expect(closed)
            #expect((s.server.stats().connectionsClosedByReason["flood"] ?? 0) >= 1, "\(s.server.stats().connectionsClosedByReason)")
            try await expectServing(s)
            await s.stop()
        }

        @Test func hpackBomb() async throws {
            let s = try Self.server { $0.maxHeaderBytes = 8 << 10 }
            // CVE-2016-1544: one 4000-byte entry in the dynamic table, then referenced 1000 times
            // (one byte each: indexed field 62, RFC 7541 §6.1): ~4 MB of decoded headers per frame.
            let block = H2.requestBlock("GET", "/hello") + H2.literal("x-bomb", String(repeating: "b", count: 4000), index: true)
                + [UInt8](repeating: 0x80 | 62, count: 1000)
            let (goaway, closed) = try await Self.attack(s.port, H2.start() + H2.frame(.headers, flags: H2.endHeaders | H2.endStream, stream: 1, block))
            #expect(goaway?.goawayError == 0xb && closed, "ENHANCE_YOUR_CALM expected, got \(String(describing: goaway?.goawayError))")
            #expect(s.probe.started == 0)
            try await expectServing(s)
            await s.stop()
        }

        @Test func slowloris() async throws {
            let s = try Self.server()
            let port = s.port
            // Part of the HTTP/2 preface, then nothing: closed at the preface timeout.
            async let preface = Self.attack(port, Array(H2.preface[0..<10]))
            // A complete preface, then a header block that never ends: GOAWAY at the header timeout.
            async let h2Headers = Self.attack(port, H2.start() + H2.frame(.headers, stream: 1, H2.requestBlock("GET", "/hello")))
            // HTTP/1.1 headers that never end: 408 and close.
            async let h1 = blocking { () -> String in
                let c = try RawClient(port: port)
                c.send("GET /hello HTTP/1.1\r\nhost: x\r\n")
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            // A normal client is served meanwhile.
            #expect(try await curl("\(s.base)/hello", http2: true) == "200|hello")
            let (_, prefaceClosed) = try await preface
            let (h2GoAway, h2Closed) = try await h2Headers
            let h1Reply = try await h1
            #expect(prefaceClosed && h2Closed && h2GoAway != nil)
            #expect(h1Reply.hasPrefix("HTTP/1.1 408 "), "\(h1Reply)")
            let reasons = s.server.stats().connectionsClosedByReason
            #expect(reasons["preface_timeout"] == 1 && reasons["header_timeout"] == 2, "\(reasons)")
            try await expectServing(s)
            await s.stop()
        }

        @Test func streamIDsGoingBackwards() async throws {
            let s = try Self.server()
            // RFC 9113 §5.1.1: stream 3 after stream 5 is a connection error PROTOCOL_ERROR.
            let (goaway, closed) = try await Self.attack(s.port, H2.start() + H2.get("/hello", stream: 5) + H2.get("/hello", stream: 3))
            #expect(goaway?.goawayError == 0x1 && closed, "PROTOCOL_ERROR expected, got \(String(describing: goaway?.goawayError))")
            try await expectServing(s)
            await s.stop()
        }

        @Test func slowReaderIsClosedAtTheWriteTimeout() async throws {
            let s = try Self.server()
            // Huge windows, a 48 MB response, and a client that never reads: the server buffers at
            // most its output bound, then gives up at the write timeout.
            let port = s.port
            let c = try await blocking { () -> RawClient in
                let c = try RawClient(port: port)
                c.send(H2.start() + H2.get("/bytes?n=50331648", stream: 1))
                return c
            }
            try await waitFor("write timeout to close the connection") {
                s.server.stats().connectionsClosedByReason["write_timeout"] == 1
            }
            withExtendedLifetime(c) {}
            try await expectServing(s)
            await s.stop()
        }
    

        @Test func idleAndStalledConnectionsAreClosed() async throws {
            let s = try Self.server { $0.idleTimeout = .milliseconds(400) }
            let port = s.port
            // HTTP/2 with nothing to do: GOAWAY(NO_ERROR), then closed.
            async let h2Idle = Self.attack(port, H2.start())
            // An upload that stalls mid-body: closed too.
            async let h2Stalled = Self.attack(port, H2.start()
                + H2.frame(.headers, flags: H2.endHeaders, stream: 1, H2.requestBlock("POST", "/echo"))
                + H2.frame(.data, stream: 1, [1, 2, 3]))
            // HTTP/1.1 keep-alive after a response: closed.
            async let h1Idle = blocking { () -> Bool in
                let c = try RawClient(port: port)
                c.send("GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
                return c.waitForClose() && String(decoding: c.received, as: UTF8.self).hasSuffix("hello")
            }
            // A client that grants no flow-control window and waits: closed.
            async let zeroWindow = Self.attack(port, H2.preface + H2.settings([(0x4, 0)])
                + H2.get("/bytes?n=100000", stream: 1))
            let (idleGoaway, idleClosed) = try await h2Idle
            let (_, stalledClosed) = try await h2Stalled
            #expect(idleGoaway?.goawayError == 0 && idleClosed)
            #expect(stalledClosed)
            #expect(try await h1Idle)
            #expect(try await zeroWindow.closed)
            #expect(s.server.stats().connectionsClosedByReason["idle_timeout"] == 4)
            #expect(s.probe.started == 2)
            try await expectServing(s)
            await s.stop()
        }
    }
}
