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

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(deep.utf8)) }
    }

    @Test func quotesStrings() {
        #expect(JSONText.quoted("a\"b\\c\n\u{1}") == #""a\"b\\c\n\u0001""#)
    }
}
