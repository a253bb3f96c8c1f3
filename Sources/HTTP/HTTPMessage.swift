// Requests and responses as the HTTP layer hands them to, and takes them from, a handler.
// Architecture Invariant: nothing here knows what a tokenizer is.

/// The protocol a request arrived on.
public enum HTTPVersion: String, Sendable, Hashable {
    case http1_1 = "HTTP/1.1"
    case http2 = "HTTP/2"
}

/// Header fields in arrival order. Names are lowercase (RFC 9113 §8.2.1; HTTP/1.1 names are
/// case-insensitive per RFC 9110 §5.1, so the layer lowercases them on the way in).
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0.lowercased(), value: $0.1) }
    }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name.lowercased(), value: value))
    }
    /// Replaces every field called `name` with one field.
    public mutating func set(_ name: String, _ value: String) {
        let lower = name.lowercased()
        fields.removeAll { $0.name == lower }
        fields.append((name: lower, value: value))
    }
    /// The first value of `name`, if any.
    public subscript(name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name == lower }?.value
    }
    public func values(_ name: String) -> [String] {
        let lower = name.lowercased()
        return fields.filter { $0.name == lower }.map(\.value)
    }
    public func contains(_ name: String) -> Bool { self[name] != nil }
    public var count: Int { fields.count }
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }
    /// Fast path for the parsers: the caller guarantees `name` is already lowercase. Room for
    /// a typical request's fields comes at the first, so that they are stored in one allocation.
    mutating func appendLowercased(_ name: String, _ value: String) {
        if fields.capacity == 0 { fields.reserveCapacity(8) }
        fields.append((name: name, value: value))
    }
}

/// One complete request. The layer buffers the whole body (bounded by the configured limit)
/// before it calls the handler.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path part of the request target, without the query.
    public var path: String
    /// The raw query (after `?`, not decoded), or "" when absent.
    public var query: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var version: HTTPVersion
    /// The peer as "address:port" ("[v6]:port" for IPv6).
    public var remoteAddress: String
    /// The HTTP/2 stream id, or 0 for HTTP/1.1.
    public var streamID: Int32

    public init(method: String, path: String, query: String = "", headers: HTTPHeaders = [:],
                body: [UInt8] = [], version: HTTPVersion = .http1_1,
                remoteAddress: String = "", streamID: Int32 = 0) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.version = version
        self.remoteAddress = remoteAddress
        self.streamID = streamID
    }

    /// Splits a request target ("/a/b?x=1") into path and raw query (RFC 9110 §4.2.1).
    static func splitTarget(_ target: String) -> (path: String, query: String) {
        // A byte search: `firstIndex(of: Character)` compares grapheme clusters (it showed in
        // profiles), and "?" is ASCII, so a UTF-8 index is also a valid String index here.
        guard let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, "") }
        return (String(target[..<q]), String(target[target.utf8.index(after: q)...]))
    }
}

/// A complete response. The layer adds `content-length` (and, for HTTP/1.1, the framing
/// headers); a handler sets status, its own headers and the body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int = 200, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int = 200, contentType: String, body: [UInt8]) {
        self.init(status: status, headers: ["content-type": contentType], body: body)
    }

    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    /// A JSON body that is already encoded.
    public static func json(_ encoded: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json", body: encoded)
    }

    /// The error shape of the whole service: `{"error": message, "type": type}`.
    public static func error(status: Int, _ message: String, type: String) -> HTTPResponse {
        let json = "{\"error\":\(jsonString(message)),\"type\":\(jsonString(type))}"
        return .json(Array(json.utf8), status: status)
    }

    /// `s` as a JSON string literal (RFC 8259 §7).
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// What the service implements.
///
/// Two paths, chosen per request:
/// - `respondInline(to:)` is asked first, on the connection's queue. A response it returns is
///   sent in the same turn: no Task, no thread hop. It is for answers that are synchronous and
///   cheap (microseconds, no I/O, no waiting on other work): health checks, metrics, fixed
///   responses. While it runs, the connection (every stream on it) waits. Return nil, the
///   default, to send the request down the general path.
/// - `handle(_:)` runs in its own Task, off the connection's queue; a stream reset or a closed
///   connection cancels that Task (check `Task.isCancelled`, or use
///   `withTaskCancellationHandler` to drop queued work).
public protocol HTTPHandler: Sendable {
    func respondInline(to request: HTTPRequest) -> HTTPResponse?
    func handle(_ request: HTTPRequest) async -> HTTPResponse
}

extension HTTPHandler {
    /// By default every request takes the general path (`handle` in a Task).
    public func respondInline(to request: HTTPRequest) -> HTTPResponse? { nil }
}

/// A handler made from closures: `inline` (optional) answers what it can at once, `body` the rest.
public struct HTTPHandlerFunction: HTTPHandler {
    let inline: @Sendable (HTTPRequest) -> HTTPResponse?
    let body: @Sendable (HTTPRequest) async -> HTTPResponse
    public init(inline: @escaping @Sendable (HTTPRequest) -> HTTPResponse? = { _ in nil },
                _ body: @escaping @Sendable (HTTPRequest) async -> HTTPResponse) {
        self.inline = inline
        self.body = body
    }
    public func respondInline(to request: HTTPRequest) -> HTTPResponse? { inline(request) }
    public func handle(_ request: HTTPRequest) async -> HTTPResponse { await body(request) }
}

/// Status facts the layer needs (RFC 9110 §15).
enum HTTPStatus {
    static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }

    /// RFC 9110 §6.4.1: 1xx, 204 and 304 responses carry no content.
    static func allowsBody(_ status: Int) -> Bool {
        !(100..<200).contains(status) && status != 204 && status != 304
    }
}
