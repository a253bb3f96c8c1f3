/// A media type with its parameters, e.g. `multipart/form-data; boundary=x` or `image/png`.
struct MediaType: Equatable, Sendable {
    /// `type/subtype`, lowercased.
    var essence: String
    /// Parameter names lowercased; values unquoted.
    var parameters: [String: String]

    init(essence: String, parameters: [String: String] = [:]) {
        self.essence = essence
        self.parameters = parameters
    }

    init?(parsing text: String) {
        let pieces = Self.splitOutsideQuotes(text, on: ";")
        let essence = pieces[0].trimmingCharacters(in: " ").lowercased()
        let halves = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard halves.count == 2, halves.allSatisfy(Self.isToken) else { return nil }
        self.essence = essence
        parameters = [:]
        for piece in pieces.dropFirst() {
            guard let eq = piece.firstIndex(of: "=") else { continue }
            let name = piece[..<eq].trimmingCharacters(in: " ").lowercased()
            var value = piece[piece.index(after: eq)...].trimmingCharacters(in: " ")
            if value.count >= 2, value.first == "\"", value.last == "\"" {
                value = value.dropFirst().dropLast()
            }
            parameters[name] = String(value)
        }
    }

    /// RFC 9110 §5.6.2: one or more of ALPHA, DIGIT and !#$%&'*+-.^_`|~ (so no space, comma or slash).
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A)
                || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    var type: Substring { essence.split(separator: "/")[0] }
    var subtype: Substring { essence.split(separator: "/")[1] }

    static func splitOutsideQuotes(_ text: String, on separator: Character) -> [Substring] {
        var pieces: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\"" { quoted.toggle() } else if c == separator, !quoted {
                pieces.append(text[start..<i])
                start = text.index(after: i)
            }
            i = text.index(after: i)
        }
        pieces.append(text[start...])
        return pieces
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set || (set == " " && s.first == "\t") { s = s.dropFirst() }
        while s.last == set || (set == " " && s.last == "\t") { s = s.dropLast() }
        return s
    }
}
