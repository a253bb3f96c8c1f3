/// One part of a multipart body (RFC 2046 / RFC 7578).
struct MultipartPart: Sendable, Equatable {
    /// Header names lowercased.
    var headers: [String: String]
    var body: [UInt8]

    init(headers: [String: String], body: [UInt8]) {
        self.headers = headers
        self.body = body
    }

    var contentType: String? { headers["content-type"] }

    /// The `name` parameter of Content-Disposition (form fields).
    var name: String? { disposition?.parameters["name"] }
    var filename: String? { disposition?.parameters["filename"] }

    private var disposition: MediaType? {
        // "form-data; name=..." is not a media type; give it a fake subtype so MediaType parses it.
        headers["content-disposition"].flatMap { MediaType(parsing: "x/" + $0) }
    }
}

enum Multipart {
    /// The boundary of a multipart content type, or a 400 naming what is wrong.
    static func boundary(of contentType: MediaType) throws(ServiceError) -> String {
        guard let boundary = contentType.parameters["boundary"], !boundary.isEmpty, boundary.utf8.count <= 200 else {
            throw .badRequest("\(contentType.essence) needs a boundary parameter of 1 to 200 characters")
        }
        return boundary
    }

    /// Splits a multipart body into its parts, in order. `maxParts` bounds the work done on hostile input.
    static func parse(_ body: [UInt8], boundary: String, maxParts: Int) throws(ServiceError) -> [MultipartPart] {
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = Array("\r\n--\(boundary)".utf8)
        var cursor: Int
        if body.starts(with: dashBoundary) {
            cursor = dashBoundary.count
        } else if let at = find(delimiter, in: body, from: 0) {
            cursor = at + delimiter.count
        } else {
            throw .badRequest("the multipart body has no boundary line '--\(boundary)'")
        }
        var parts: [MultipartPart] = []
        while true {
            if body[cursor...].starts(with: [0x2D, 0x2D]) { return parts }  // "--": the close delimiter
            while cursor < body.count, body[cursor] == 0x20 || body[cursor] == 0x09 { cursor += 1 }
            guard body[cursor...].starts(with: [0x0D, 0x0A]) else {
                throw .badRequest("the multipart body is truncated or malformed after part \(parts.count)")
            }
            cursor += 2
            guard let end = find(delimiter, in: body, from: cursor) else {
                throw .badRequest("the multipart body ends inside part \(parts.count) (no closing boundary)")
            }
            guard parts.count < maxParts else {
                throw .tooLarge("the multipart body holds more than \(maxParts) parts")
            }
            parts.append(try part(body[cursor..<end], index: parts.count))
            cursor = end + delimiter.count
        }
    }

    private static func part(_ bytes: ArraySlice<UInt8>, index: Int) throws(ServiceError) -> MultipartPart {
        let crlf: [UInt8] = [0x0D, 0x0A]
        var headers: [String: String] = [:]
        var cursor = bytes.startIndex
        while true {
            guard let lineEnd = find(crlf, in: bytes, from: cursor) else {
                throw .badRequest("the headers of multipart part \(index) are not terminated by an empty line")
            }
            if lineEnd == cursor { cursor += 2; break }
            let line = String(decoding: bytes[cursor..<lineEnd], as: UTF8.self)
            guard let colon = line.firstIndex(of: ":") else {
                throw .badRequest("multipart part \(index) has a malformed header line")
            }
            let name = line[..<colon].lowercased()
            headers[name] = String(line[line.index(after: colon)...].trimmingCharacters(in: " "))
            cursor = lineEnd + 2
        }
        return MultipartPart(headers: headers, body: Array(bytes[cursor...]))
    }

    /// A multipart body (e.g. multipart/mixed) with `parts` in order.
    static func write(_ parts: [MultipartPart], boundary: String) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1.body.count + 128 })
        for part in parts {
            out += "--\(boundary)\r\n".utf8
            for (name, value) in part.headers.sorted(by: { $0.key < $1.key }) {
                out += "\(name): \(value)\r\n".utf8
            }
            out += "\r\n".utf8
            out += part.body
            out += "\r\n".utf8
        }
        out += "--\(boundary)--\r\n".utf8
        return out
    }

    /// A boundary that cannot occur in `parts` (checked, not just assumed from randomness).
    static func makeBoundary(avoiding parts: [MultipartPart]) -> String {
        while true {
            let boundary = "vqtok-" + (0..<24).map { _ in String("0123456789abcdef".randomElement()!) }.joined()
            let needle = Array(boundary.utf8)
            if parts.allSatisfy({ find(needle, in: $0.body, from: 0) == nil }) { return boundary }
        }
    }

    /// First index of `needle` in `hay` at or after `from`.
    static func find<C: RandomAccessCollection<UInt8>>(_ needle: [UInt8], in hay: C, from: C.Index) -> C.Index?
    where C.Index == Int {
        guard let first = needle.first, hay.endIndex - from >= needle.count else { return nil }
        let last = hay.endIndex - needle.count
        var i = from
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count, hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
