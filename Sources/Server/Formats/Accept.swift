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

    static func parse(_ header: String) -> [Range] {
        MediaType.splitOutsideQuotes(header, on: ",").compactMap { piece -> Range? in
            let text = String(piece.trimmingCharacters(in: " "))
            guard !text.isEmpty else { return nil }
            // "*" alone is sent by some old clients; treat it as */*.
            guard let media = MediaType(parsing: text == "*" ? "*/*" : text) else { return nil }
            var parameters = media.parameters
            let q = parameters.removeValue(forKey: "q").flatMap(Double.init) ?? 1
            return Range(type: String(media.type), subtype: String(media.subtype),
                         quality: min(max(q, 0), 1), parameters: parameters)
        }
    }

    /// The offer to answer with, or nil when the client accepts none of them (406).
    static func negotiate(_ header: String?, offers: [String]) -> String? {
        guard let header, !header.allSatisfy({ $0 == " " || $0 == "\t" }) else { return offers.first }
        let ranges = parse(header)
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
