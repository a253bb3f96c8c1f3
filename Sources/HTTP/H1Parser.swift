import Foundation

// HTTP/1.1 request parser (RFC 9112) as a state machine: fed any split of the input, down to
// one byte at a time, it yields the same requests. It does no I/O and knows no socket.

/// How the body of a request is delimited (RFC 9112 §6.3).
enum H1BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
}

struct H1RequestHead {
    var method: String
    var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    var minorVersion: Int
    var headers: HTTPHeaders
    var framing: H1BodyFraming
    /// RFC 9112 §9.3: persistent unless "close" (1.1) or unless "keep-alive" (1.0).
    var keepAlive: Bool
    /// RFC 9110 §10.1.1 `Expect: 100-continue`.
    var expectContinue: Bool
}

struct H1Message {
    var head: H1RequestHead
    var body: [UInt8]
}

/// A request the parser refuses, with the status that answers it.
struct H1ParseError: Error, Equatable {
    var status: Int
    var type: String
    var message: String

    static func bad(_ message: String) -> H1ParseError {
        H1ParseError(status: 400, type: "bad_request", message: message)
    }
    static let headersTooLarge = H1ParseError(
        status: 431, type: "headers_too_large", message: "request header fields too large")
    static let bodyTooLarge = H1ParseError(
        status: 413, type: "body_too_large", message: "request body too large")
}

struct H1Parser {
    enum Step {
        /// All input consumed; feed more.
        case needMore
        /// The header section is complete and a body follows (time to send 100 Continue).
        case head(H1RequestHead)
        /// A complete request. The parser is ready for the next one.
        case message(H1Message)
        /// The request is refused. The parser stays failed: close the connection after answering.
        case failure(H1ParseError)
    }

    private enum State {
        case requestLine
        case headerLines
        case body(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailerLines
        case failed
    }

    let maxHeaderBytes: Int
    let maxHeaderCount: Int
    let maxBodyBytes: Int

    private var state = State.requestLine
    private var line: [UInt8] = []
    private var headerBytes = 0
    private var head: H1RequestHead?
    private var requestLine: (method: String, target: String, minor: Int)?
    private var headers = HTTPHeaders()
    private var body: [UInt8] = []

    init(maxHeaderBytes: Int, maxHeaderCount: Int, maxBodyBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }

    /// True when no byte of a next request has been seen (between requests).
    var isAtMessageBoundary: Bool {
        if case .requestLine = state { return line.isEmpty }
        return false
    }

    /// The head of the request being parsed, once its header section is complete.
    var currentHead: H1RequestHead? { head }

    /// Consumes a prefix of `input` and reports what it completed. Call again with the rest.
    mutating func parse(_ input: UnsafeRawBufferPointer) -> (consumed: Int, step: Step) {
        var i = 0
        let n = input.count
        while i < n || isBodyCompleteWithoutInput {
            switch state {
            case .failed:
                return (i, .failure(.bad("parser already failed")))
            case .requestLine, .headerLines, .chunkSizeLine, .trailerLines:
                guard let lf = indexOfLF(input, from: i) else {
                    if let err = appendLine(input, i, n) { return fail(n, err) }
                    return (n, .needMore)
                }
                if let err = appendLine(input, i, lf) { return fail(lf + 1, err) }
                i = lf + 1
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                let complete = line
                line.removeAll(keepingCapacity: true)
                switch lineDone(complete) {
                case .continue: continue
                case .step(let step): return (i, step)
                }
            case .body(let remaining):
                if remaining == 0 { return (i, finishMessage()) }
                let take = min(remaining, n - i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                state = .body(remaining: remaining - take)
                if remaining - take == 0 { return (i, finishMessage()) }
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                i += take
                state = remaining - take == 0 ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                // RFC 9112 §7.1: chunk-data is followed by CRLF.
                if input[i] == UInt8(ascii: "\r") && line.isEmpty {
                    line.append(input[i]); i += 1
                } else if input[i] == UInt8(ascii: "\n") {
                    line.removeAll(keepingCapacity: true); i += 1
                    state = .chunkSizeLine
                } else {
                    return fail(i, .bad("missing CRLF after chunk data"))
                }
            }
        }
        return (i, .needMore)
    }

    // MARK: Lines

    private enum LineOutcome { case `continue`, step(Step) }

    private var isBodyCompleteWithoutInput: Bool {
        if case .body(0) = state { return true }
        return false
    }

    private func indexOfLF(_ input: UnsafeRawBufferPointer, from: Int) -> Int? {
        var j = from
        while j < input.count {
            if input[j] == UInt8(ascii: "\n") { return j }
            j += 1
        }
        return nil
    }

    /// Appends input[from..<to] to the current line, enforcing the line-length budget.
    private mutating func appendLine(_ input: UnsafeRawBufferPointer, _ from: Int, _ to: Int) -> H1ParseError? {
        let limit: Int
        switch state {
        case .chunkSizeLine: limit = 1024  // chunk size + extensions (RFC 9112 §7.1.1)
        default: limit = maxHeaderBytes
        }
        if line.count + (to - from) > limit {
            if case .chunkSizeLine = state { return .bad("chunk size line too long") }
            return .headersTooLarge
        }
        line.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[from..<to]))
        return nil
    }

    private mutating func lineDone(_ l: [UInt8]) -> LineOutcome {
        switch state {
        case .requestLine:
            // RFC 9112 §2.2: ignore at least one empty line before the request line.
            if l.isEmpty { return .continue }
            switch parseRequestLine(l) {
            case .success(let rl): requestLine = rl; state = .headerLines; return .continue
            case .failure(let e): return .step(failNow(e))
            }
        case .headerLines:
            if l.isEmpty { return .step(headersDone()) }
            if let e = addHeaderLine(l, trailer: false) { return .step(failNow(e)) }
            return .continue
        case .chunkSizeLine:
            guard let size = parseChunkSize(l) else { return .step(failNow(.bad("invalid chunk size"))) }
            if size == 0 { state = .trailerLines; return .continue }
            if body.count + size > maxBodyBytes { return .step(failNow(.bodyTooLarge)) }
            state = .chunkData(remaining: size)
            return .continue
        case .trailerLines:
            if l.isEmpty { return .step(finishMessage()) }
            // Trailer fields count against the header budget and are otherwise dropped
            // (RFC 9110 §6.5.1: a recipient may discard them).
            if let e = addHeaderLine(l, trailer: true) { return .step(failNow(e)) }
            return .continue
        default:
            return .continue
        }
    }

    private func parseRequestLine(_ l: [UInt8]) -> Result<(method: String, target: String, minor: Int), H1ParseError> {
        // RFC 9112 §3: method SP request-target SP HTTP-version
        let parts = l.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .failure(.bad("malformed request line"))
        }
        guard parts[0].allSatisfy(H1Parser.isTokenChar) else { return .failure(.bad("invalid method")) }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return .failure(.bad("invalid request target")) }
        // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT. Anything else is malformed (400);
        // a well-formed major version other than 1 is one we do not speak (505); a later 1.x minor
        // is answered as 1.1 (RFC 9110 §6.2).
        let version = Array(parts[2])
        let isDigit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), isDigit(version[5]),
              version[6] == UInt8(ascii: "."), isDigit(version[7]) else {
            return .failure(.bad("malformed HTTP version"))
        }
        guard version[5] == UInt8(ascii: "1") else {
            return .failure(H1ParseError(status: 505, type: "version_not_supported", message: "HTTP version not supported"))
        }
        let minor = version[7] == UInt8(ascii: "0") ? 0 : 1
        return .success((String(decoding: parts[0], as: UTF8.self),
                         String(decoding: parts[1], as: UTF8.self), minor))
    }

    private mutating func addHeaderLine(_ l: [UInt8], trailer: Bool) -> H1ParseError? {
        // RFC 9112 §5.2: obsolete line folding may be rejected with 400.
        if l.first == UInt8(ascii: " ") || l.first == UInt8(ascii: "\t") {
            return .bad("obsolete line folding")
        }
        guard let colon = l.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            return .bad("malformed header field")
        }
        let nameBytes = l[..<colon]
        // RFC 9112 §5.1: no whitespace between field name and colon.
        guard nameBytes.allSatisfy(H1Parser.isTokenChar) else { return .bad("invalid header field name") }
        var v = l[(colon + 1)...]
        while let f = v.first, f == 0x20 || f == 0x09 { v = v.dropFirst() }
        while let b = v.last, b == 0x20 || b == 0x09 { v = v.dropLast() }
        if v.contains(where: { $0 == 0 || $0 == 0x0d || $0 == 0x0a }) { return .bad("invalid header field value") }
        // Same accounting as HTTP/2 (RFC 7541 §4.1): name + value + 32 per field.
        headerBytes += nameBytes.count + v.count + 32
        let count = headers.count + 1
        if headerBytes > maxHeaderBytes || count > maxHeaderCount { return .headersTooLarge }
        if trailer { return nil }
        let name = String(decoding: nameBytes.map { $0 | (($0 >= 0x41 && $0 <= 0x5a) ? 0x20 : 0) }, as: UTF8.self)
        headers.appendLowercased(name, String(decoding: v, as: UTF8.self))
        return nil
    }

    private mutating func headersDone() -> Step {
        guard let rl = requestLine else { return failNow(.bad("missing request line")) }
        let framing: H1BodyFraming
        let te = headers.values("transfer-encoding")
        let cl = headers.values("content-length")
        if !te.isEmpty {
            // RFC 9112 §6.1: chunked must be the final coding; we support no other coding.
            // A message with both is a smuggling vector (§6.3 item 3): refuse it.
            if !cl.isEmpty { return failNow(.bad("both transfer-encoding and content-length")) }
            let codings = te.joined(separator: ",").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            // RFC 9112 §6.1: transfer-coding = token *( OWS ";" OWS transfer-parameter ). A name
            // that is no token is malformed (400); a well-formed one we do not know is a 501.
            let names = codings.map { $0.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces) }
            guard names.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(H1Parser.isTokenChar) }) else {
                return failNow(.bad("malformed transfer-encoding"))
            }
            guard codings == ["chunked"] else {
                return failNow(H1ParseError(status: 501, type: "not_implemented",
                                            message: "unsupported transfer-encoding '\(names.joined(separator: ", ").prefix(64))' (only chunked)"))
            }
            if rl.minor == 0 { return failNow(.bad("chunked encoding in HTTP/1.0")) }
            framing = .chunked
        } else if !cl.isEmpty {
            // RFC 9110 §8.6: a list of identical values may be accepted; digits only.
            let values = Set(cl.joined(separator: ",").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) })
            guard values.count == 1, let v = values.first, !v.isEmpty, v.count <= 18,
                  v.allSatisfy({ $0.isASCII && $0.isNumber }), let length = Int(v) else {
                return failNow(.bad("invalid content-length"))
            }
            if length > maxBodyBytes {
                head = makeHead(rl, framing: .length(length))
                return failNow(.bodyTooLarge)
            }
            framing = length == 0 ? .none : .length(length)
        } else {
            framing = .none
        }
        let h = makeHead(rl, framing: framing)
        head = h
        switch framing {
        case .none:
            return finishMessage()
        case .length(let n):
            body.reserveCapacity(n)
            state = .body(remaining: n)
        case .chunked:
            state = .chunkSizeLine
        }
        return .head(h)
    }

    private func makeHead(_ rl: (method: String, target: String, minor: Int), framing: H1BodyFraming) -> H1RequestHead {
        let connection = headers.values("connection").joined(separator: ",").lowercased()
        let tokens = Set(connection.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let keepAlive = rl.minor == 1 ? !tokens.contains("close") : tokens.contains("keep-alive")
        let expect = headers["expect"]?.lowercased() == "100-continue"
        return H1RequestHead(method: rl.method, target: rl.target, minorVersion: rl.minor,
                             headers: headers, framing: framing, keepAlive: keepAlive,
                             expectContinue: expect)
    }

    private func parseChunkSize(_ l: [UInt8]) -> Int? {
        // RFC 9112 §7.1: chunk-size [ chunk-ext ]; extensions are ignored.
        let sizePart = l.prefix { $0 != UInt8(ascii: ";") }
        var trimmed = sizePart[...]
        while let b = trimmed.last, b == 0x20 || b == 0x09 { trimmed = trimmed.dropLast() }
        guard !trimmed.isEmpty, trimmed.count <= 15 else { return nil }
        var size = 0
        for b in trimmed {
            guard let d = H1Parser.hexValue(b) else { return nil }
            size = size * 16 + d
        }
        return size
    }

    private mutating func finishMessage() -> Step {
        guard let h = head else { return failNow(.bad("missing head")) }
        let message = H1Message(head: h, body: body)
        state = .requestLine
        line.removeAll(keepingCapacity: true)
        headerBytes = 0
        head = nil
        requestLine = nil
        headers = HTTPHeaders()
        body = []
        return .message(message)
    }

    private mutating func failNow(_ e: H1ParseError) -> Step {
        state = .failed
        return .failure(e)
    }

    private mutating func fail(_ consumed: Int, _ e: H1ParseError) -> (consumed: Int, step: Step) {
        (consumed, failNow(e))
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
