import Foundation
import Imaging
import Testing
@testable import Server

extension Integration {
    /// Runs every ```sh and ```python example of api.md against a live server.
    @Suite struct DocsExamplesTests {
        static func examples(_ language: String) throws -> [String] {
            let text = try RepositoryFiles.text("api.md")
            var blocks: [String] = []
            var current: [String]?
            for line in text.components(separatedBy: "\n") {
                if current == nil, line == "```" + language { current = []; continue }
                if current != nil, line == "```" { blocks.append(current!.joined(separator: "\n")); current = nil; continue }
                current?.append(line)
            }
            return blocks
        }

        private func workspace() throws -> URL {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-docs-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let photo = try Fixtures.photo("astronaut")
            try Data(photo).write(to: dir.appendingPathComponent("photo.png"))
            try Data(try ImageCodec.encodeJPEG(try ImageCodec.decode(photo), quality: 90)).write(to: dir.appendingPathComponent("photo.jpg"))
            return dir
        }

        @Test func theCurlAndPythonExamplesRun() async throws {
            let shell = try Self.examples("sh"), python = try Self.examples("python")
            #expect(!shell.isEmpty && !python.isEmpty, "api.md has examples")
            let live = try await SharedServers.fixture.value
            do {
                for example in shell {
                    let dir = try workspace()
                    defer { try? FileManager.default.removeItem(at: dir) }
                    let script = example.replacingOccurrences(of: "http://localhost:8080", with: live.url)
                    let result = try await ProcessRunner.run("bash", ["-euo", "pipefail", "-c", script], directory: dir)
                    #expect(result.status == 0, "sh example failed: \(result.stderrText)")
                    let reconstruction = try ImageCodec.decode(Array(try Data(contentsOf: dir.appendingPathComponent("reconstruction.png"))))
                    #expect(reconstruction.width == 256)
                    let batch = try NPY.decode(Array(try Data(contentsOf: dir.appendingPathComponent("batch.npy"))))
                    #expect(batch.shape == [2, 16, 16])
                }
                for example in python {
                    let dir = try workspace()
                    defer { try? FileManager.default.removeItem(at: dir) }
                    let script = example.replacingOccurrences(of: "http://localhost:8080", with: live.url)
                    let result = try await Python.run(script, baseURL: live.url, directory: dir)
                    #expect(result.status == 0, "python example failed: \(result.stderrText)")
                    #expect(result.stdoutText.contains("(16, 16) uint16"))
                    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("reconstruction.png").path))
                }
            }
        }
    }
}
