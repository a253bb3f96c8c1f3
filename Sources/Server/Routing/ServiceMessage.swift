/// A request as the service sees it: the HTTP layer's request reduced to what the routes read.
/// The mapping from the HTTP module's types lives in HTTPAdapter.swift, so routes and handlers
/// can be tested without sockets.
struct ServiceRequest: Sendable {
    var method: String
    var path: String
    /// Raw query string (after `?`), not decoded.
    var query: String
    /// Header names lowercased.
    var headers: [String: String]
    var body: [UInt8]

    init(method: String, path: String, query: String = "", headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, b in a + ", " + b })
        self.body = body
    }

    /// The body's media type, nil when the request names none. A content-type that is not one
    /// media type (malformed, or two headers, which arrive joined by a comma) is refused rather
    /// than read as absent.
    var contentType: MediaType? {
        get throws(ServiceError) {
            guard let text = headers["content-type"] else { return nil }
            guard let media = MediaType(parsing: text) else {
                throw .badRequest("content-type '\(text)' is not one media type (type/subtype, then parameters)")
            }
            return media
        }
    }
}

/// An answer, with where its time went (for the timing headers).
struct ServiceResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var queueTime: Duration = .zero
    var computeTime: Duration = .zero

    init(status: Int = 200, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.headers = [("content-type", contentType)] + headers
        self.body = body
    }

    init(json: String, status: Int = 200) {
        self.init(status: status, contentType: "application/json", body: Array(json.utf8))
    }

    init(error: ServiceError) {
        self.init(status: error.status, contentType: "application/json", body: error.body,
                  headers: error.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
}

/// Query parameters, percent-decoded; each route names the ones it reads and refuses others.
struct QueryParameters: Sendable {
    private(set) var values: [String: String] = [:]

    init(_ query: String) throws(ServiceError) {
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.percentDecode(parts[0], plusAsSpace: true),
                  let value = Self.percentDecode(parts.count > 1 ? parts[1] : "", plusAsSpace: true) else {
                throw .badRequest("the query parameter '\(pair)' is not validly percent-encoded")
            }
            // Which of two values would win is a guess; the client is told instead.
            guard values.updateValue(value, forKey: name) == nil else {
                throw .badRequest("the query parameter '\(name)' is given more than once")
            }
        }
    }

    subscript(name: String) -> String? { values[name] }

    /// 400 for any parameter outside `known`, so a misspelt option is not silently ignored.
    func require(only known: Set<String>, route: String) throws(ServiceError) {
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            throw .badRequest("unknown query parameter '\(unknown)' for \(route) (known: \(list))")
        }
    }

    static func percentDecode(_ text: Substring, plusAsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        var i = text.utf8.startIndex
        let utf8 = text.utf8
        while i < utf8.endIndex {
            let b = utf8[i]
            if b == UInt8(ascii: "%") {
                let h1 = utf8.index(after: i)
                guard h1 < utf8.endIndex, utf8.index(after: h1) < utf8.endIndex,
                      let v = UInt8(String(decoding: utf8[h1...utf8.index(after: h1)], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(v)
                i = utf8.index(h1, offsetBy: 2)
            } else {
                bytes.append(plusAsSpace && b == UInt8(ascii: "+") ? UInt8(ascii: " ") : b)
                i = utf8.index(after: i)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
