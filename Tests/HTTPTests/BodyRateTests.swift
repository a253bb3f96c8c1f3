import Foundation
import Testing
@testable import HTTP

/// The minimum request-body rate as a pure rule: fed times and byte totals, no socket.
@Suite struct BodyRateMeterTests {
    /// A meter of `rate` bytes/s over 2-second windows, and the verdicts it gives for a sequence
    /// of (second, running byte total, receiving) observations.
    static func verdicts(_ rate: Int = 100, _ observations: [(second: UInt64, bytes: Int, receiving: Bool)]) -> [Bool] {
        var meter = BodyRateMeter(minBytesPerSecond: rate, window: .seconds(2))
        return observations.map { meter.isTooSlow(now: $0.second * 1_000_000_000, bodyBytes: $0.bytes, receiving: $0.receiving) }
    }

    @Test func bodyKeepingTheRateInEveryWindowIsNeverTooSlow() {
        // 150 bytes/s against 100 bytes/s, over ten 2-second windows.
        let verdicts = Self.verdicts(100, (0...20).map { (UInt64($0), 150 * $0, true) })
        #expect(verdicts == Array(repeating: false, count: 21))
    }

    @Test func windowUnderTheRateIsTooSlowAndStaysSoForTheSameTotal() {
        let verdicts = Self.verdicts(100, [(0, 0, true),
                                           (1, 100, true),   // the window is not over yet
                                           (2, 199, true),   // 199 < 2 s × 100 bytes/s
                                           (2, 199, true),   // asked again: same verdict
                                           (2, 200, true)])  // bytes read late count
        #expect(verdicts == [false, false, true, true, false])
    }

    @Test func timeWithoutABodyArrivingDoesNotCount() {
        let verdicts = Self.verdicts(100, [(0, 0, true),
                                           (60, 10, false),  // no body arriving (a handler ran, say)
                                           (61, 10, true),   // a new window starts
                                           (63, 11, true)])
        #expect(verdicts == [false, false, false, true])
    }

    @Test func zeroRateDisablesTheCheck() {
        #expect(!BodyRateMeter(minBytesPerSecond: 0, window: .seconds(2)).isEnabled)
        #expect(Self.verdicts(0, [(0, 0, true), (100, 0, true)]) == [false, false])
    }

    @Test func messageNamesTheLimit() {
        let meter = BodyRateMeter(minBytesPerSecond: 100, window: .seconds(2))
        #expect(meter.violationMessage == "request body arrived slower than 100 bytes/s over 2 s")
    }
}

extension HTTPIntegrationTests {
    /// Dribbled request bodies are answered 408 (HTTP/1.1: then closed; HTTP/2: that stream reset),
    /// counted, and the server keeps serving; a slow but legal upload still goes through.
    @Suite struct BodyRateTests {
        /// 100 bytes/s over 1-second windows; the clients below send 10 bytes/s (too slow) or
        /// about 10 KB/s (legal).
        static func server() throws -> TestServer {
            try TestServer {
                $0.minRequestBodyBytesPerSecond = 100
                $0.requestBodyRateWindow = .seconds(1)
            }
        }

        @Test func dribbledHTTP1BodyIs408AndTheConnectionCloses() async throws {
            let s = try Self.server()
            let port = s.port
            let reply = try await blocking { () -> String in
                let c = try RawClient(port: port)
                c.send("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
                // One byte per 100 ms, for at most 10 s, until the server answers.
                for _ in 0..<100 where c.received.isEmpty && !c.eof {
                    c.send([UInt8(ascii: "a")])
                    c.fill(timeout: .milliseconds(100))
                }
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            #expect(reply.hasPrefix("HTTP/1.1 408 Request Timeout\r\n") && reply.contains("connection: close"), "\(reply)")
            #expect(reply.hasSuffix(#"{"error":"request body arrived slower than 100 bytes/s over 1 s","type":"body_too_slow"}"#))
            #expect(s.probe.started == 0)
            let stats = s.server.stats()
            #expect(stats.requestBodiesTooSlow == 1 && stats.requestsByStatus[408] == 1)
            try await expectServing(s)
            await s.stop()
        }

        @Test func dribbledHTTP2BodyIs408ThenResetAndTheConnectionGoesOn() async throws {
            let s = try Self.server()
            let c = try RawClient(port: s.port)
            let frames = try await blocking { () -> [H2.Frame] in
                c.send(H2.start() + H2.frame(.headers, flags: H2.endHeaders, stream: 1, H2.requestBlock("POST", "/echo")))
                func reset(_ bytes: [UInt8]) -> Bool { H2.parse(bytes).contains { $0.stream == 1 && $0.rstError != nil } }
                for _ in 0..<100 where !reset(c.received) && !c.eof {
                    c.send(H2.frame(.data, stream: 1, [UInt8(ascii: "a")]))
                    c.fill(timeout: .milliseconds(100))
                }
                return H2.parse(c.received)
            }
            let body = frames.filter { $0.stream == 1 && $0.type == H2.FrameType.data.rawValue }.flatMap(\.payload)
            #expect(String(decoding: body, as: UTF8.self).contains(#""type":"body_too_slow""#))
            #expect(frames.last { $0.stream == 1 }?.rstError == 0, "RST_STREAM(NO_ERROR) after the 408")
            let next = try await blocking { () -> [H2.Frame] in
                c.send(H2.get("/hello", stream: 3))
                return H2.parse(c.readUntil { H2.parse($0).contains { $0.stream == 3 && $0.flags & H2.endStream != 0 } })
            }
            #expect(next.contains { $0.stream == 3 && $0.type == H2.FrameType.data.rawValue && $0.payload == Array("hello".utf8) })
            let stats = s.server.stats()
            #expect(stats.requestBodiesTooSlow == 1 && stats.requestsByStatus[408] == 1)
            #expect(s.probe.started == 1, "only /hello reached the handler")
            await s.stop()
        }

        @Test(arguments: [true, false])
        func slowButLegalUploadGoesThrough(http2: Bool) async throws {
            let s = try Self.server()
            let port = s.port
            let chunks = 40, chunk = 500  // 20 kB in 500-byte pieces, one per 50 ms: over 2 windows
            let reply = try await blocking { () -> [UInt8] in
                let c = try RawClient(port: port)
                if http2 {
                    c.send(H2.start() + H2.frame(.headers, flags: H2.endHeaders, stream: 1, H2.requestBlock("POST", "/echo")))
                } else {
                    c.send("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: \(chunks * chunk)\r\n\r\n")
                }
                for i in 0..<chunks {
                    let piece = [UInt8](repeating: UInt8(ascii: "a"), count: chunk)
                    c.send(http2 ? H2.frame(.data, flags: i == chunks - 1 ? H2.endStream : 0, stream: 1, piece) : piece)
                    c.fill(timeout: .milliseconds(50))
                }
                if http2 {
                    return c.readUntil { H2.parse($0).contains { $0.stream == 1 && ($0.flags & H2.endStream != 0 || $0.rstError != nil) } }
                }
                return c.readUntil { String(decoding: $0, as: UTF8.self).hasSuffix(String(repeating: "a", count: chunks * chunk)) }
            }
            if http2 {
                let frames = H2.parse(reply)
                let body = frames.filter { $0.stream == 1 && $0.type == H2.FrameType.data.rawValue }.flatMap(\.payload)
                #expect(body.count == chunks * chunk)
                #expect(!frames.contains { $0.rstError != nil })
            } else {
                #expect(String(decoding: reply, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK\r\n"))
            }
            #expect(s.server.stats().requestBodiesTooSlow == 0)
            await s.stop()
        }
    }
}
