import Foundation
import Testing

/// api.md against the code: every metric the service exports is documented.
@Suite struct APIDocumentTests {
    @Test func everyMetricIsDocumented() throws {
        let doc = try RepositoryFiles.text("api.md")
        let sources = try FileManager.default.subpathsOfDirectory(atPath: RepositoryFiles.url("Sources/Server").path)
            .filter { $0.hasSuffix(".swift") }
        var names: Set<String> = []
        for file in sources {
            let text = try RepositoryFiles.text("Sources/Server/" + file)
            var rest = Substring(text)
            while let start = rest.range(of: "\"vqtok_") {
                let tail = rest[start.upperBound...]
                let end = tail.firstIndex(of: "\"") ?? tail.endIndex
                names.insert("vqtok_" + tail[..<end])
                rest = tail[end...]
            }
        }
        #expect(names.count >= 15, "found the metric names in the sources")
        for name in names.sorted() { #expect(doc.contains("`\(name)`"), "\(name) is in api.md's metrics table") }
    }
}
