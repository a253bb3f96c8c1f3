import Glibc

/// Bytes waiting to be written to a socket: appended at the end, written from the front.
/// Not Sendable: owned by one connection and touched only on its queue.
struct OutputBuffer {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { start == storage.count }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }
    mutating func append(_ bytes: [UInt8]) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }
    mutating func append(_ bytes: ArraySlice<UInt8>) {
        compactIfWorthIt()
        storage.append(contentsOf: bytes)
    }

    enum WriteResult {
        case wrote(Int)
        case wouldBlock
        case failed(Int32)
    }

    /// One write(2) of as much as the socket takes.
    mutating func write(to fd: Int32) -> WriteResult {
        guard !isEmpty else { return .wrote(0) }
        let n = storage.withUnsafeBytes { raw in
            Glibc.send(fd, raw.baseAddress! + start, raw.count - start, Int32(MSG_NOSIGNAL))
        }
        if n < 0 {
            let e = errno
            if e == EAGAIN || e == EWOULDBLOCK || e == EINTR { return .wouldBlock }
            return .failed(e)
        }
        start += n
        if start == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 1 << 20)
            start = 0
        }
        return .wrote(n)
    }

    private mutating func compactIfWorthIt() {
        if start > 64 << 10 && start * 2 > storage.count {
            storage.removeFirst(start)
            start = 0
        }
    }
}

/// Tells HTTP/2 prior knowledge from HTTP/1.1 by the first bytes (RFC 9113 §3.4: the client
/// connection preface starts with "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").
enum ProtocolSniffer {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable { case http2, http1, needMore }

    static func classify(_ bytes: [UInt8]) -> Verdict {
        let n = min(bytes.count, preface.count)
        for i in 0..<n where bytes[i] != preface[i] { return .http1 }
        return bytes.count >= preface.count ? .http2 : .needMore
    }
}
