import Foundation
import Testing
@testable import Server

/// Fake work for the scheduler: doubles each payload, records the batches it saw, and can be
/// held at a gate so that requests pile up behind a running batch.
private final class FakeModel: @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [[Int]] = []
    private let gate = DispatchSemaphore(value: 0)
    private let holding: Bool
    let started: AsyncStream<[Int]>
    private let startedContinuation: AsyncStream<[Int]>.Continuation

    init(holding: Bool) {
        self.holding = holding
        (started, startedContinuation) = AsyncStream.makeStream()
    }

    var seen: [[Int]] { lock.withLock { batches } }

    func process(_ payloads: [Int]) throws(ServiceError) -> [Int] {
        lock.withLock { batches.append(payloads) }
        startedContinuation.yield(payloads)
        if holding { gate.wait() }
        if payloads.contains(-1) { throw .internalError("payload -1 fails its batch") }
        return payloads.map { $0 * 2 }
    }

    func release(_ batches: Int = 1) { for _ in 0..<batches { gate.signal() } }
}

/// The queue depths the scheduler reports, to wait for "n items are queued" without sleeping.
private final class DepthWatch: Sendable {
    let depths: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation

    init() { (depths, continuation) = AsyncStream.makeStream() }

    var observer: BatchObserver {
        let continuation = self.continuation
        return BatchObserver(queueDepth: { continuation.yield($0) })
    }

    func wait(for depth: Int) async {
        for await d in depths where d == depth { return }
    }

    /// Consumes the reports of a first request that a worker has already taken: 1 when it was
    /// queued, 0 when it was taken. Without this a later `wait(for: 1)` returns on the stale 1,
    /// before the request it waits for is queued.
    func firstRequestTaken() async { await wait(for: 0) }
}

private func scheduler(_ model: FakeModel, _ policy: BatchPolicy, watch: DepthWatch = DepthWatch())
    -> BatchScheduler<Int, Int, Int> {
    BatchScheduler(name: "fake", policy: policy, observer: watch.observer) { payloads throws(ServiceError) in
        try model.process(payloads)
    }
}

@Suite struct BatchSchedulerTests {
    @Test func batchesRequestsThatArriveWhileABatchRuns() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(maxBatchItems: 3), watch: watch)
        defer { batcher.shutdown() }
        async let first = batcher.submit([(key: 0, payload: 100)])
        var started = model.started.makeAsyncIterator()
        #expect(await started.next() == [100])
        await watch.firstRequestTaken()
        let results = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for n in 1...5 {
                group.addTask { (n, try await batcher.submit([(key: 0, payload: n)]).outputs) }
                await watch.wait(for: n)
            }
            model.release(3)
            var results: [Int: [Int]] = [:]
            for try await (n, outputs) in group { results[n] = outputs }
            return results
        }
        #expect(try await first.outputs == [200])
        for n in 1...5 { #expect(results[n] == [n * 2], "request \(n) gets its own answer") }
        #expect(model.seen == [[100], [1, 2, 3], [4, 5]])
    }

    @Test func refusesAtOnceWhenTheQueueIsFull() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(maxBatchItems: 1, queueCapacity: 2), watch: watch)
        defer { batcher.shutdown() }
        async let running = batcher.submit([(key: 0, payload: 1)])
        var started = model.started.makeAsyncIterator()
        _ = await started.next()
        async let queued = batcher.submit([(key: 0, payload: 2), (key: 0, payload: 3)])
        await watch.wait(for: 2)
        let error = await #expect(throws: ServiceError.self) { try await batcher.submit([(key: 0, payload: 4)]) }
        #expect(error?.status == 503)
        #expect(error?.headers["retry-after"] == "1")
        model.release(3)
        #expect(try await running.outputs == [2])
        #expect(try await queued.outputs == [4, 6])
    }

    @Test func failsQueuedWorkAtItsDeadlineWhileTheWorkerIsBusy() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(timeout: .milliseconds(50)), watch: watch)
        defer { batcher.shutdown() }
        async let running = batcher.submit([(key: 0, payload: 1)])
        var started = model.started.makeAsyncIterator()
        _ = await started.next()
        let error = await #expect(throws: ServiceError.self) { try await batcher.submit([(key: 0, payload: 2)]) }
        #expect(error?.status == 504)
        model.release()
        _ = try await running
        #expect(model.seen == [[1]], "the expired request never ran")
    }

    @Test func dropsCancelledRequestsBeforeTheyRun() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(), watch: watch)
        defer { batcher.shutdown() }
        async let running = batcher.submit([(key: 0, payload: 1)])
        var started = model.started.makeAsyncIterator()
        _ = await started.next()
        await watch.firstRequestTaken()
        let doomed = Task { try await batcher.submit([(key: 0, payload: 2)]) }
        await watch.wait(for: 1)
        doomed.cancel()
        let error = await #expect(throws: ServiceError.self) { try await doomed.value }
        #expect(error == .cancelled)
        #expect(batcher.queuedItems == 0)
        model.release(2)
        _ = try await running
        #expect(try await batcher.submit([(key: 0, payload: 3)]).outputs == [6])
        #expect(model.seen == [[1], [3]])
    }

    @Test func aCancelledTaskIsNotQueuedAtAll() async throws {
        let model = FakeModel(holding: false)
        let batcher = scheduler(model, BatchPolicy())
        defer { batcher.shutdown() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await batcher.submit([(key: 0, payload: 1)])
        }
        let error = await #expect(throws: ServiceError.self) { try await task.value }
        #expect(error == .cancelled)
        #expect(model.seen.isEmpty)
    }

    @Test func keepsItemsOfOneRequestInOrderAcrossBatches() async throws {
        let model = FakeModel(holding: false)
        let batcher = scheduler(model, BatchPolicy(maxBatchItems: 2))
        defer { batcher.shutdown() }
        let result = try await batcher.submit([(0, 1), (1, 2), (0, 3), (0, 4)].map { (key: $0.0, payload: $0.1) })
        #expect(result.outputs == [2, 4, 6, 8])
        #expect(model.seen == [[1, 3], [2], [4]])
        #expect(result.computeTime > .zero)
    }

    @Test func aFailingBatchFailsItsRequestsAndTheSchedulerGoesOn() async throws {
        let model = FakeModel(holding: false)
        let batcher = scheduler(model, BatchPolicy())
        defer { batcher.shutdown() }
        let error = await #expect(throws: ServiceError.self) { try await batcher.submit([(key: 0, payload: -1)]) }
        #expect(error?.status == 500)
        #expect(try await batcher.submit([(key: 0, payload: 5)]).outputs == [10])
    }

    @Test func shutdownFailsWhatIsQueued() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(), watch: watch)
        let running = Task { try await batcher.submit([(key: 0, payload: 1)]) }
        var started = model.started.makeAsyncIterator()
        _ = await started.next()
        await watch.firstRequestTaken()
        let queued = Task { try await batcher.submit([(key: 0, payload: 2)]) }
        await watch.wait(for: 1)
        let stopper = Task.detached { batcher.shutdown() }
        let error = await #expect(throws: ServiceError.self) { try await queued.value }
        #expect(error?.status == 503)
        model.release()
        await stopper.value
        _ = try? await running.value
        #expect(model.seen == [[1]])
        let late = await #expect(throws: ServiceError.self) { try await batcher.submit([(key: 0, payload: 3)]) }
        #expect(late?.status == 503)
    }
}

extension BatchSchedulerTests {
    @Test func cancellingARequestWithAnItemRunningAnswersAtOnce() async throws {
        let model = FakeModel(holding: true)
        let watch = DepthWatch()
        let batcher = scheduler(model, BatchPolicy(maxBatchItems: 1), watch: watch)
        defer { batcher.shutdown() }
        let task = Task { try await batcher.submit([(key: 0, payload: 1), (key: 0, payload: 2)]) }
        var started = model.started.makeAsyncIterator()
        #expect(await started.next() == [1])
        task.cancel()
        let error = await #expect(throws: ServiceError.self) { try await task.value }
        #expect(error == .cancelled, "answered while its first item still runs")
        #expect(batcher.queuedItems == 0, "its second item left the queue")
        model.release(2)  // the running item, then the next request's
        #expect(try await batcher.submit([(key: 0, payload: 3)]).outputs == [6])
        #expect(model.seen == [[1], [3]], "the second item never ran")
    }
}
