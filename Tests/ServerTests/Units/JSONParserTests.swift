import Checkpoint
import Testing
@testable import Server

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(Array(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\n\ud83d\ude00"} "#.utf8))
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("xé\n😀"))
    }

    @Test func rejectsMalformedText() {
        for text in ["{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u{01}\"", "[1] 2", "tru", "-"] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONParser.parse(Array(text.utf8)) }
        }
    }

    /// A repeated key has no agreed meaning (RFC 8259 §4): refused, at the repeat, in any object.
    @Test func refusesAKeyRepeatedInOneObject() throws {
        #expect(throws: JSONParseError(message: #"the key "a" appears twice in one object at byte 16"#, offset: 16)) {
            try JSONParser.parse(Array(#"[{"b": {"a": 1, "a": 2}}]"#.utf8))
        }
        #expect(try JSONParser.parse(Array(#"{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}"#.utf8))["a"] == .object([("a", .number("1"))]))
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(deep.utf8)) }
    }

    @Test func quotesStrings() {
        #expect(JSONText.quoted("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
    }
}
