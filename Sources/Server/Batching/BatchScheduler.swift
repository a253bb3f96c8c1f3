import Foundation

/// Hooks for metrics. `queueDepth` is called with the scheduler's lock held, so that the depths
/// arrive in order (keep it quick and never call back into the scheduler); the others outside it.
public struct BatchObserver: Sendable {
    public enum Drop: String, Sendable { case cancelled, expired, rejected }

    public var queueDepth: @Sendable (Int) -> Void
    public var batchRan: @Sendable (_ items: Int, _ duration: Duration) -> Void
    public var dropped: @Sendable (_ reason: Drop, _ items: Int) -> Void

    public init(queueDepth: @escaping @Sendable (Int) -> Void = { _ in },
                batchRan: @escaping @Sendable (Int, Duration) -> Void = { _, _ in },
                dropped: @escaping @Sendable (Drop, Int) -> Void = { _, _ in }) {
        self.queueDepth = queueDepth
        self.batchRan = batchRan
        self.dropped = dropped
    }
}

/// A request's outputs, in the order of its items, with where its time went.
public struct Batched<Output: Sendable>: Sendable {
    public var outputs: [Output]
    /// From arrival until its last item started running.
    public var queueTime: Duration
    /// Time spent in the batches its items ran in.
    public var computeTime: Duration
}

/// One model's queue and its worker threads. Requests are admitted whole or refused at once
/// (503); their items wait in one FIFO queue and run in batches on the scheduler's own threads,
/// never on the caller's; an item waiting past the deadline fails its request (504) as soon as
/// the deadline passes, even while every worker is busy; a cancelled caller's items leave the
/// queue at once and never run.
///
/// The mutable state lives behind one NSCondition (it gives timed waits), so the class is
/// `@unchecked Sendable`: every stored `var` is read and written only with `condition` held.
public final class BatchScheduler<Payload: Sendable, Output: Sendable, Key: Hashable & Sendable>: @unchecked Sendable {
    /// Runs one batch; one output per payload, in order.
    public typealias Process = @Sendable ([Payload]) throws(ServiceError) -> [Output]

    private struct Pending {
        var continuation: CheckedContinuation<Batched<Output>, any Error>
        var outputs: [Output?]
        var remaining: Int
        var enqueued: ContinuousClock.Instant
        var lastStart: ContinuousClock.Instant
        var compute: Duration = .zero
    }

    public let name: String
    public let policy: BatchPolicy
    private let process: Process
    private let cost: @Sendable (Payload) -> Int
    private let observer: BatchObserver
    private let clock = ContinuousClock()
    private let condition = NSCondition()
    private var queue: BatchQueue<Payload, Key>
    private var pending: [UInt64: Pending] = [:]
    private var nextID: UInt64 = 0
    private var stopping = false
    private var liveThreads = 0

    /// `cost` weighs each payload against the policy's `maxBatchPixels` (by default 1 each).
    public init(name: String, policy: BatchPolicy, observer: BatchObserver = BatchObserver(),
                cost: @escaping @Sendable (Payload) -> Int = { _ in 1 }, process: @escaping Process) {
        self.name = name
        self.policy = policy
        self.cost = cost
        self.process = process
        self.observer = observer
        queue = BatchQueue(policy: policy)
        liveThreads = policy.workers + 1
        for n in 0..<policy.workers {
            start("vqtok-\(name)-worker-\(n)") { $0.workerLoop() }
        }
        start("vqtok-\(name)-deadlines") { $0.deadlineLoop() }
    }

    private func start(_ threadName: String, _ body: @escaping @Sendable (BatchScheduler) -> Void) {
        let thread = Thread { [self] in
            body(self)
            condition.withLock { liveThreads -= 1; condition.broadcast() }
        }
        thread.name = threadName
        thread.start()
    }

    /// Items waiting to run.
    public var queuedItems: Int { condition.withLock { queue.count } }

    /// Queues `items` (a key and a payload each) and waits for their outputs.
    public func submit(_ items: [(key: Key, payload: Payload)]) async throws(ServiceError) -> Batched<Output> {
        precondition(!items.isEmpty, "a request needs at least one item")
        let id = condition.withLock { nextID += 1; return nextID }
        do {
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    enqueue(id: id, items: items, continuation: continuation)
                }
            } onCancel: {
                cancel(id: id)
            }
        } catch let error as ServiceError {
            throw error
        } catch {
            throw .internalError("\(error)")
        }
    }

    private func enqueue(id: UInt64, items: [(key: Key, payload: Payload)],
                         continuation: CheckedContinuation<Batched<Output>, any Error>) {
        let now = clock.now
        let deadline = now + policy.timeout
        condition.lock()
        if Task.isCancelled || stopping {
            condition.unlock()
            if !stopping { observer.dropped(.cancelled, items.count) }
            continuation.resume(throwing: stopping ? ServiceError.unavailable("model '\(name)' is shutting down")
                                                   : ServiceError.cancelled)
            return
        }
        let queued = items.enumerated().map { index, item in
            QueuedItem(request: id, index: index, key: item.key, payload: item.payload, cost: cost(item.payload),
                       enqueued: now, deadline: deadline)
        }
        guard queue.admit(queued) else {
            condition.unlock()
            observer.dropped(.rejected, items.count)
            continuation.resume(throwing: ServiceError.overloaded(model: name, retryAfterSeconds: 1))
            return
        }
        pending[id] = Pending(continuation: continuation, outputs: Array(repeating: nil, count: items.count),
                              remaining: items.count, enqueued: now, lastStart: now)
        observer.queueDepth(queue.count)
        condition.broadcast()
        condition.unlock()
    }

    private func cancel(id: UInt64) {
        condition.lock()
        let removed = queue.remove(request: id)
        // Only a request whose items are all still waiting is dropped here; one already running
        // finishes and its answer is discarded by the cancelled caller.
        guard removed > 0, let request = pending[id], request.remaining == removed else {
            condition.unlock()
            return
        }
        pending[id] = nil
        observer.queueDepth(queue.count)
        condition.unlock()
        observer.dropped(.cancelled, removed)
        request.continuation.resume(throwing: ServiceError.cancelled)
    }

    /// Fails what is queued or running (503) and waits for the threads to end after their
    /// current batch. Draining in-flight work first is the HTTP server's job.
    public func shutdown() {
        condition.lock()
        stopping = true
        let failed = pending
        pending.removeAll()
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        for request in failed.values {
            request.continuation.resume(throwing: ServiceError.unavailable("model '\(name)' is shutting down"))
        }
        condition.withLock { while liveThreads > 0 { condition.wait() } }
    }
}

extension BatchScheduler {
    private func workerLoop() {
        condition.lock()
        while !stopping {
            switch queue.next(now: clock.now) {
            case .idle:
                condition.wait()
            case .wait(let until):
                _ = condition.wait(until: Date(timeIntervalSinceNow: seconds(until - clock.now)))
            case .run(let batch):
                observer.queueDepth(queue.count)
                condition.unlock()
                run(batch)
                condition.lock()
            }
        }
        condition.unlock()
    }

    private func run(_ batch: [QueuedItem<Payload, Key>]) {
        let start = clock.now
        let result = Result { () throws(ServiceError) in try process(batch.map(\.payload)) }
        let duration = clock.now - start
        observer.batchRan(batch.count, duration)
        var finished: [(CheckedContinuation<Batched<Output>, any Error>, Result<Batched<Output>, ServiceError>)] = []
        var charged = Set<UInt64>()
        condition.lock()
        for (n, item) in batch.enumerated() {
            guard var request = pending[item.request] else { continue }
            switch result {
            case .success(let outputs) where outputs.count == batch.count:
                request.outputs[item.index] = outputs[n]
                request.remaining -= 1
                request.lastStart = max(request.lastStart, start)
                if charged.insert(item.request).inserted { request.compute += duration }
                if request.remaining == 0 {
                    pending[item.request] = nil
                    finished.append((request.continuation, .success(Batched(
                        outputs: request.outputs.map { $0! }, queueTime: request.lastStart - request.enqueued,
                        computeTime: request.compute))))
                } else {
                    pending[item.request] = request
                }
            case .success(let outputs):
                pending[item.request] = nil
                queue.remove(request: item.request)
                finished.append((request.continuation, .failure(.internalError(
                    "model '\(name)' returned \(outputs.count) outputs for a batch of \(batch.count)"))))
            case .failure(let error):
                pending[item.request] = nil
                queue.remove(request: item.request)
                finished.append((request.continuation, .failure(error)))
            }
        }
        condition.unlock()
        for (continuation, outcome) in finished { continuation.resume(with: outcome) }
    }

    private func deadlineLoop() {
        condition.lock()
        while !stopping {
            let expired = queue.expire(now: clock.now)
            if !expired.isEmpty {
                let requests = expired.compactMap { pending.removeValue(forKey: $0) }
                observer.queueDepth(queue.count)
                condition.unlock()
                let error = ServiceError.deadlineExceeded(model: name, after: Int(seconds(policy.timeout) * 1000))
                for request in requests {
                    observer.dropped(.expired, request.remaining)
                    request.continuation.resume(throwing: error)
                }
                condition.lock()
                continue
            }
            if let deadline = queue.nextDeadline {
                _ = condition.wait(until: Date(timeIntervalSinceNow: seconds(deadline - clock.now)))
            } else {
                condition.wait()
            }
        }
        condition.unlock()
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
