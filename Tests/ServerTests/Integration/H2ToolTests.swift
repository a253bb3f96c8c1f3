import Foundation
import Testing
@testable import Server

extension Integration {
    /// nghttp2's own clients against the server: nghttp (one request, frames shown) and h2load
    /// (many multiplexed POSTs of a real PNG).
    @Suite struct H2ToolTests {
        @Test func nghttpFetchesOverPriorKnowledge() async throws {
            try await withLiveServer(models: [try TinyModels.model()]) { live in
                let result = try await ProcessRunner.run("nghttp", ["-v", live.url + "/v1/models/tiny"])
                #expect(result.status == 0, "\(result.stderrText)")
                #expect(result.stdoutText.contains(":status: 200"))
                #expect(result.stdoutText.contains("x-total-time"))
                #expect(result.stdoutText.contains("\"name\":\"tiny\""))
            }
        }

        @Test func h2loadPostsAreAllAnsweredAndBatched() async throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-h2load-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let image = dir.appendingPathComponent("image.png")
            try Data(try TestImages.png(width: 32, height: 24)).write(to: image)
            let configuration = ServiceConfiguration(batching: BatchPolicy(maxBatchItems: 16, maxWait: .milliseconds(20)))
            try await withLiveServer(models: [try TinyModels.model()], configuration: configuration) { live in
                let result = try await ProcessRunner.run("h2load", [
                    "-n", "64", "-c", "2", "-m", "16", "-d", image.path, "-H", "content-type: image/png",
                    live.url + "/v1/models/tiny/encode",
                ])
                #expect(result.status == 0, "\(result.stderrText)")
                #expect(result.stdoutText.contains("64 succeeded, 0 failed, 0 errored"), "\(result.stdoutText)")
                #expect(result.stdoutText.contains("status codes: 64 2xx"))
                let metrics = try await live.metrics()
                let count = metrics.value("vqtok_batch_size_count", ["model": "tiny"]) ?? 0
                let sum = metrics.value("vqtok_batch_size_sum", ["model": "tiny"]) ?? 0
                #expect(sum == 66, "64 images and the warm-up's encode and decode")
                #expect(count < sum, "requests shared batches")
            }
        }
    }
}
