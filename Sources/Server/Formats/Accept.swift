import Checkpoint

/// Content negotiation over the Accept header (RFC 9110 §12.5.1): the offered media type with the
/// highest quality wins; ties go to the more specific range, then to the server's order of
/// preference. No Accept header, or an empty one, means the first offer.
enum Accept {
    struct Range: Equatable {
        var type: String
        var subtype: String
        var quality: Double
        var parameters: [String: String]

        /// 2 for an exact type, 1 for `type/*`, 0 for `*/*`.
        var specificity: Int { type == "*" ? 0 : subtype == "*" ? 1 : 2 }

        func matches(_ offer: MediaType) -> Bool {
            (type == "*" || type == offer.type) && (subtype == "*" || subtype == offer.subtype)
        }
    }

    /// The header's media ranges. An element that is not a media range, or a weight that is not
    /// a qvalue (RFC 9110 §12.4.2: 0 to 1, at most three decimals), is a 400: a client that
    /// misspells its Accept learns so instead of getting a format it did not ask for.
    static func parse(_ header: String) throws(ServiceError) -> [Range] {
        var ranges: [Range] = []
        for piece in MediaType.splitOutsideQuotes(header, on: ",") {
            let text = String(piece.trimmingCharacters(in: " "))  // spaces and tabs
            guard !text.isEmpty else { continue }  // RFC 9110 §5.6.1: empty list elements are allowed
            // "*" alone (with or without a weight) is sent by some old clients; read it as */*.
            let bare = text.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
            let range = bare[0].trimmingCharacters(in: " ") == "*" ? "*/*" + text.dropFirst(bare[0].count) : text
            guard let media = MediaType(parsing: range) else {
                throw .badRequest("accept: \(JSONText.quoted(String(text.prefix(64)))) is not a media range (type/subtype)")
            }
            var parameters = media.parameters
            var quality = 1.0
            if let weight = parameters.removeValue(forKey: "q") {
                guard let q = qvalue(weight) else {
                    throw .badRequest("accept: q=\(weight.prefix(16)) is not a weight from 0 to 1 (at most three decimals)")
                }
                quality = q
            }
            ranges.append(Range(type: String(media.type), subtype: String(media.subtype), quality: quality, parameters: parameters))
        }
        return ranges
    }

    /// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
    static func qvalue(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        if bytes.count > 1 {
            let decimals = bytes.dropFirst(2)
            guard bytes[1] == UInt8(ascii: "."), decimals.count <= 3,
                  decimals.allSatisfy({ first == UInt8(ascii: "0") ? (48...57).contains($0) : $0 == UInt8(ascii: "0") })
            else { return nil }
        }
        return Double(text)
    }

    /// The offer to answer with, or nil when the client accepts none of them (406).
    static func negotiate(_ header: String?, offers: [String]) throws(ServiceError) -> String? {
        guard let header, !header.allSatisfy({ $0 == " " || $0 == "\t" }) else { return offers.first }
        let ranges = try parse(header)
        guard !ranges.isEmpty else { return offers.first }
        var best: (offer: String, quality: Double, specificity: Int)?
        for offer in offers {
            guard let media = MediaType(parsing: offer) else { continue }
            // The most specific matching range decides the offer's quality.
            guard let range = ranges.filter({ $0.matches(media) }).max(by: { $0.specificity < $1.specificity }),
                  range.quality > 0 else { continue }
            if best == nil || range.quality > best!.quality
                || (range.quality == best!.quality && range.specificity > best!.specificity) {
                best = (offer, range.quality, range.specificity)
            }
        }
        return best?.offer
    }
}
