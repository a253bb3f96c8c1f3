import Foundation
import Testing
@testable import Checkpoint
import Tensor

/// A fresh temporary directory, removed when the test's closure returns.
func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("vqtok-checkpoint-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Runs `body`, which must throw a CheckpointError whose description contains every fragment.
func expectCheckpointError(_ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws(CheckpointError) -> Void) {
    do {
        try body()
        Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
    } catch {
        for fragment in fragments {
            #expect(error.description.contains(fragment),
                    "error \"\(error.description)\" should mention \"\(fragment)\"", sourceLocation: sourceLocation)
        }
    }
}

/// A safetensors image with a hand-written header (for corruption tests).
func safetensorsImage(header: String, buffer: [UInt8]) -> [UInt8] {
    let json = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    return out + json + buffer
}

func floatBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// Directory holding the committed fixtures (Tests/Fixtures/checkpoint).
let checkpointFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/checkpoint")
