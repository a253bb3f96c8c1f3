import Foundation
import Glibc

/// A blocking TCP client that writes hand-built bytes and reads with deadlines, for the attack
/// tests. Every read is bounded by a timeout.
/// @unchecked Sendable: a test uses one client from one `blocking` block at a time, in sequence.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var input: [UInt8] = []
    private(set) var eof = false

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { Glibc.close(fd); throw POSIXError(.ECONNREFUSED) }
    }

    deinit { Glibc.close(fd) }

    /// Writes everything, or stops quietly when the peer closed (EPIPE/ECONNRESET) or a write
    /// stays blocked for `timeout`. Returns the bytes written.
    @discardableResult
    func send(_ bytes: [UInt8], timeout: Duration = .seconds(5)) -> Int {
        var sent = 0
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        return sent
    }

    func send(_ s: String) { send(Array(s.utf8)) }

    /// Reads what arrives within `timeout` (stops early at EOF). Returns false on timeout.
    @discardableResult
    func fill(timeout: Duration) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&pfd, 1, max(ms, 1)) > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { eof = true; return true }
        input.append(contentsOf: buf[0..<n])
        return true
    }

    /// Reads until `done(allInput)` or EOF or the deadline. Returns the input so far.
    func readUntil(timeout: Duration = .seconds(5), _ done: ([UInt8]) -> Bool) -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        while !done(input) && !eof {
            let left = deadline - ContinuousClock.now
            if left <= .zero { break }
            fill(timeout: min(left, .milliseconds(100)))
        }
        return input
    }

    /// Waits until the server closes the connection; true when it did within `timeout`.
    func waitForClose(timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !eof && ContinuousClock.now < deadline {
            fill(timeout: .milliseconds(100))
            if input.count > 1 << 20 { input.removeAll() }  // a flood of ACKs: keep memory bounded
        }
        return eof
    }

    var received: [UInt8] { input }
}

/// HTTP/2 frames built by hand (RFC 9113 §4.1, §6) and an HPACK encoder that only emits literals
/// (RFC 7541 §6.2.2 and §6.2.1) and indexed fields (§6.1).
enum H2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    enum FrameType: UInt8 { case data = 0, headers = 1, priority = 2, rstStream = 3, settings = 4,
                            pushPromise = 5, ping = 6, goaway = 7, windowUpdate = 8, continuation = 9 }
    static let endStream: UInt8 = 0x1, endHeaders: UInt8 = 0x4, ack: UInt8 = 0x1

    static func frame(_ type: FrameType, flags: UInt8 = 0, stream: Int32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type.rawValue, flags]
            + be32(UInt32(stream)) + payload
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    static func settings(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
        frame(.settings, entries.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xff)] + be32($0.1) })
    }

    /// Preface + our SETTINGS with big windows (so the server's output is not flow-controlled).
    static func start(window: UInt32 = 0x7fff_ffff) -> [UInt8] {
        preface + settings([(0x4, window)]) + frame(.windowUpdate, be32(window - 65535))
    }

    /// RFC 7541 §5.1 integer with an N-bit prefix; `first` holds the pattern bits.
    static func integer(_ value: Int, prefixBits: Int, first: UInt8) -> [UInt8] {
        let max = (1 << prefixBits) - 1
        if value < max { return [first | UInt8(value)] }
        var out = [first | UInt8(max)]
        var v = value - max
        while v >= 128 { out.append(UInt8(v % 128 + 128)); v /= 128 }
        out.append(UInt8(v))
        return out
    }

    /// Literal header field without indexing, new name (§6.2.2); or with incremental indexing.
    static func literal(_ name: String, _ value: String, index: Bool = false) -> [UInt8] {
        let n = Array(name.utf8), v = Array(value.utf8)
        return [index ? 0x40 : 0x00] + integer(n.count, prefixBits: 7, first: 0) + n
            + integer(v.count, prefixBits: 7, first: 0) + v
    }

    static func requestBlock(_ method: String = "GET", _ path: String, extra: [(String, String)] = []) -> [UInt8] {
        literal(":method", method) + literal(":scheme", "http") + literal(":path", path)
            + literal(":authority", "localhost") + extra.flatMap { literal($0.0, $0.1) }
    }

    static func get(_ path: String, stream: Int32) -> [UInt8] {
        frame(.headers, flags: endHeaders | endStream, stream: stream, requestBlock("GET", path))
    }

    static func rst(_ stream: Int32, code: UInt32 = 0x8) -> [UInt8] { frame(.rstStream, stream: stream, be32(code)) }

    struct Frame {
        var type: UInt8
        var flags: UInt8
        var stream: Int32
        var payload: [UInt8]
        /// For GOAWAY: the error code (RFC 9113 §6.8).
        var goawayError: UInt32? {
            guard type == FrameType.goaway.rawValue, payload.count >= 8 else { return nil }
            return UInt32(payload[4]) << 24 | UInt32(payload[5]) << 16 | UInt32(payload[6]) << 8 | UInt32(payload[7])
        }
        var rstError: UInt32? {
            guard type == FrameType.rstStream.rawValue, payload.count >= 4 else { return nil }
            return UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
        }
    }

    /// Splits server output into frames (it starts with the server's SETTINGS; no preface).
    static func parse(_ bytes: [UInt8]) -> [Frame] {
        var out: [Frame] = []
        var i = 0
        while i + 9 <= bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + n <= bytes.count else { break }
            let id = Int32(bitPattern: UInt32(bytes[i + 5]) << 24 | UInt32(bytes[i + 6]) << 16
                           | UInt32(bytes[i + 7]) << 8 | UInt32(bytes[i + 8])) & 0x7fff_ffff
            out.append(Frame(type: bytes[i + 3], flags: bytes[i + 4], stream: id, payload: Array(bytes[(i + 9)..<(i + 9 + n)])))
            i += 9 + n
        }
        return out
    }

    static func goaway(in bytes: [UInt8]) -> Frame? {
        parse(bytes).first { $0.type == FrameType.goaway.rawValue }
    }
}
