import Checkpoint
import Dispatch
import Foundation
import Tensor
import Testing
@testable import Tokenizer
import TestSupport

/// Batches run in chunks of images on pooled workspaces; neither may change a result.
@Suite struct WorkspaceTests {
    /// Largest difference allowed between two runs whose kernels split the work differently
    /// (a band's sgemm split by output channels may round an ulp differently), relative to the
    /// largest value.
    static func assertSame(_ label: String, _ got: Tensor, _ want: Tensor) {
        let scale = max(1, want.storage.map(abs).max() ?? 0)
        assertClose(label, got, want, tolerance: 1e-6 * scale)
    }

    @Test func oneImagePerChunkMatchesTheWholeBatch() throws {
        let config = tinyConfig(kind: .projectedL2)
        let (whole, tensors) = try synthesizedTokenizer(config, seed: 3)
        // A budget of one float: every chunk is a single image.
        let chunked = try VQTokenizer(config: config, weights: Weights(tensors: tensors), activationBudget: 1)
        var values = SeededValues(seed: 12)
        let images = values.tensor([3, 3, 16, 16])
        Self.assertSame("latents", chunked.encodeLatents(images), whole.encodeLatents(images))
        let grid = whole.encode(images)
        #expect(chunked.encode(images) == grid)
        Self.assertSame("decoded", try chunked.decode(grid), try whole.decode(grid))
        // The same call again, on a workspace from the pool.
        #expect(whole.workspaces.idleCount == 1)
        Self.assertSame("decoded again", try whole.decode(grid), try chunked.decode(grid))
    }

    @Test func poolKeepsAtMostItsLimit() throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig())
        var values = SeededValues(seed: 5)
        let images = values.tensor([1, 3, 16, 16])
        let want = tokenizer.encodeLatents(images)
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            Self.assertSame("concurrent", tokenizer.encodeLatents(images), want)
        }
        #expect((1...tokenizer.workspaces.limit).contains(tokenizer.workspaces.idleCount))
    }

    @Test func poolDropsAWorkspaceThatGrewPastItsBound() {
        let pool = WorkspacePool(limit: 2, maximumFloats: 100)
        pool.with { $0.a = Tensor(zeros: [50]) }
        #expect(pool.idleCount == 1)
        pool.with { $0.a = Tensor(zeros: [500]) }
        #expect(pool.idleCount == 0)
    }

    /// `ModelDirectory.open` (tensor by tensor, the codebook projected in row blocks) builds
    /// the same tokenizer as `ModelDirectory.load` (every tensor at once).
    @Test func openAndLoadBuildTheSameTokenizer() throws {
        let directory = FixtureParityTests.modelsDirectory.appendingPathComponent("tiny-vqganlc-f16")
        let opened = try ModelDirectory.open(directory)
        let lazy = try VQTokenizer(config: opened.config, weights: opened.weights)
        let loaded = try ModelDirectory.load(directory)
        let whole = try VQTokenizer(config: loaded.config, weights: loaded.weights)
        #expect(lazy.parameterCount == whole.parameterCount)
        #expect(lazy.codebook.vectors == whole.codebook.vectors)
        var values = SeededValues(seed: 8)
        let images = values.tensor([1, 3, 64, 64])
        #expect(lazy.encodeLatents(images) == whole.encodeLatents(images))
        let grid = whole.encode(images)
        #expect(try lazy.decode(grid) == whole.decode(grid))
    }
}
