import Testing
@testable import HTTP

/// `H2HeaderBlock`: the response header block handed to nghttp2 as name/value spans.
@Suite struct H2HeaderBlockTests {
    /// The block's fields as (name, value) strings, read back through the nghttp2_nv entries.
    private func fields(_ block: inout H2HeaderBlock) -> [[String]] {
        block.withNV { nva, count in
            (0..<count).map { i in
                let nv = nva[i]
                return [String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)]
            }
        }
    }

    @Test func decimalValuesAreWrittenAsTheirDigits() {
        var block = H2HeaderBlock()
        block.add(":status", decimal: 200)
        block.add("content-type", "text/plain")
        block.add("content-length", decimal: 0)
        block.add("x-big", decimal: 1_234_567_890)
        block.add("x-one", decimal: 7)
        #expect(fields(&block) == [[":status", "200"], ["content-type", "text/plain"], ["content-length", "0"],
                                   ["x-big", "1234567890"], ["x-one", "7"]])
    }

    @Test func resetStartsAnEmptyBlockThatReusesTheBuffers() {
        var block = H2HeaderBlock()
        block.add(":status", decimal: 404)
        block.reset()
        block.add(":status", decimal: 503)
        #expect(fields(&block) == [[":status", "503"]])
    }
}

/// `HTTPRequest.splitTarget`: the request target cut at its first "?".
@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("/v1/models", "/v1/models", ""),
        ("/encode?format=json", "/encode", "format=json"),
        ("/a?b?c", "/a", "b?c"),
        ("/é/ü?q=ß", "/é/ü", "q=ß"),
        ("?", "", ""),
        ("/trailing?", "/trailing", ""),
    ])
    func targetsSplitAtTheFirstQuestionMark(target: String, path: String, query: String) {
        let split = HTTPRequest.splitTarget(target)
        #expect(split.path == path && split.query == query)
    }
}
