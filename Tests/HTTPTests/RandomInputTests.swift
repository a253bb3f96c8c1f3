import Foundation
import Testing
@testable import HTTP

/// A seeded source of test input (xorshift64*), so that a failing case reproduces from its seed.
struct SeededInput: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &self) } }
}

/// Well-formed requests with a few bytes flipped, inserted or removed.
private func mutated(_ request: String, _ random: inout SeededInput) -> [UInt8] {
    var bytes = Array(request.utf8)
    let interesting = Array("\r\n :\t;0-9aZ".utf8) + [0, 0x7f, 0xff]
    for _ in 0..<Int.random(in: 1...6, using: &random) {
        let at = Int.random(in: 0...bytes.count, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0 where at < bytes.count: bytes[at] = interesting.randomElement(using: &random)!
        case 1: bytes.insert(contentsOf: [UInt8](repeating: interesting.randomElement(using: &random)!, count: Int.random(in: 1...3, using: &random)), at: at)
        default: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...4, using: &random)))
        }
    }
    return bytes
}

private let wellFormedHTTP1 = [
    "GET /hello?x=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nx-t: v\r\n\r\n",
]

extension H1ParserTests {
    /// Mutated requests: the parser answers each with a message or one of its error statuses,
    /// never traps, and gives the same events whole and one byte at a time (`both`).
    @Test func mutatedRequestsEndInAMessageOrAnErrorStatus() {
        var random = SeededInput(seed: 20261207)
        var failures = 0
        for round in 0..<3000 {
            let input = mutated(wellFormedHTTP1[round % wellFormedHTTP1.count], &random)
            let events = both(input, maxBody: 64)
            for case .failure(let status) in events {
                failures += 1
                #expect([400, 413, 431, 501, 505].contains(status), "status \(status) for \(input)")
            }
        }
        #expect(failures > 500, "the mutations reached the parser's error paths (\(failures) failures)")
    }
}

extension HTTPIntegrationTests {
    /// Random bytes on real connections: HTTP/2 frames of every type (and unknown ones) with
    /// random flags, stream ids and payloads, mixed with real requests, and mutated HTTP/1.1.
    /// Whatever each connection gets, the server ends up with no connection, stream or handler
    /// left behind, memory bounded, and still serving.
    @Suite struct RandomInputTests {
        static func h2Connection(_ random: inout SeededInput) -> [UInt8] {
            var bytes = H2.start()
            let paths = ["/hello", "/echo", "/hang", "/nope", "/bytes?n=1000", "/headers", ""]
            for _ in 0..<Int.random(in: 1...10, using: &random) {
                let stream = [0, 1, 3, 5, 2, Int32.random(in: 0 ... .max, using: &random)].randomElement(using: &random)!
                if Bool.random(using: &random) {
                    let method = ["GET", "POST", "", "G T"].randomElement(using: &random)!
                    let block = H2.requestBlock(method, paths.randomElement(using: &random)!,
                                                extra: [("content-length", ["0", "3", "-1", "x"].randomElement(using: &random)!)])
                    bytes += H2.frame(.headers, flags: [H2.endHeaders, H2.endHeaders | H2.endStream, 0].randomElement(using: &random)!,
                                      stream: stream, block)
                } else {
                    let type = UInt8.random(in: 0...12, using: &random)
                    let payload = random.bytes([0, 1, 4, 5, 8, 9, Int.random(in: 0...300, using: &random)].randomElement(using: &random)!)
                    var header = Array(H2.be32(UInt32(payload.count)).dropFirst())
                    header += [type, UInt8.random(in: .min ... .max, using: &random)] + H2.be32(UInt32(stream))
                    bytes += header + payload
                }
            }
            // Sometimes the connection ends mid-frame.
            return Int.random(in: 0..<5, using: &random) == 0 ? Array(bytes[0..<Int.random(in: 0...bytes.count, using: &random)]) : bytes
        }

        @Test func randomConnectionsLeaveNothingBehindAndTheServerServes() async throws {
            let s = try AttackTests.server()
            let port = s.port
            let rssBefore = residentBytes()
            try await blocking {
                var random = SeededInput(seed: 7)
                for round in 0..<300 {
                    let input = round % 3 == 0 ? mutated(wellFormedHTTP1[round % wellFormedHTTP1.count], &random)
                                               : Self.h2Connection(&random)
                    let c = try RawClient(port: port)
                    c.send(input, timeout: .seconds(1))
                    c.fill(timeout: .milliseconds(20))
                }
            }
            #expect(residentBytes() - rssBefore < 64 << 20, "memory stayed bounded")
            try await waitFor("every connection, stream and handler to end") {
                let stats = s.server.stats()
                return stats.connectionsOpen == 0 && stats.streamsOpen == 0 && stats.handlersRunning == 0
            }
            // The input reached the protocol's error paths, its streams and its handlers.
            let stats = s.server.stats()
            #expect(stats.connectionsTotal == 300 && stats.http1Connections > 50 && stats.http2Connections > 150)
            #expect(stats.goawaysSent.values.reduce(0, +) > 50 && stats.streamsTotal > 20 && stats.handlersCancelled > 0, "\(stats)")
            try await expectServing(s)
            await s.stop()
        }
    }
}
