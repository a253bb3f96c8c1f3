import Checkpoint
import Foundation
import Tensor
import Tokenizer
@testable import Server

/// A fake tokenizer whose encode can be held at a gate, so tests can keep a model's worker busy
/// and watch what happens to the requests queued behind it. Ids are the batch index.
final class GatedEngine: TokenizerEngine, @unchecked Sendable {
    let config = TinyModels.config(name: "gated")
    var downsampleFactor: Int { 4 }
    var codebookSize: Int { 40 }

    private let lock = NSLock()
    private var holding = false
    private var runs: [Int] = []
    private let gate = DispatchSemaphore(value: 0)
    private let startedContinuation: AsyncStream<Int>.Continuation
    /// The batch size of each encode as it starts.
    let started: AsyncStream<Int>

    init() { (started, startedContinuation) = AsyncStream.makeStream() }

    /// From now on every encode waits for `release()`.
    func hold() { lock.withLock { holding = true } }

    func release(_ count: Int = 1) { for _ in 0..<count { gate.signal() } }

    var batches: [Int] { lock.withLock { runs } }

    func encode(_ images: Tensor, stages: StageClock) -> TokenGrid {
        let batch = images.shape[0]
        let wait = lock.withLock { runs.append(batch); return holding }
        startedContinuation.yield(batch)
        if wait { gate.wait() }
        let (h, w) = (images.shape[2] / 4, images.shape[3] / 4)
        return TokenGrid(batch: batch, height: h, width: w, ids: Array(repeating: 0, count: batch * h * w))
    }

    func decode(_ grid: TokenGrid, stages: StageClock) throws -> Tensor {
        Tensor(zeros: [grid.batch, 3, grid.height * 4, grid.width * 4])
    }
}
