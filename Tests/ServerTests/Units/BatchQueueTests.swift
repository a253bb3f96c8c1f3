import Testing
@testable import Server

/// The queue's rules with time passed in by hand: no threads, no sleeps.
@Suite struct BatchQueueTests {
    let t0 = ContinuousClock.now

    private func item(_ request: UInt64, _ index: Int = 0, key: Int = 0, at offset: Duration = .zero,
                      timeout: Duration = .seconds(10), cost: Int = 1) -> QueuedItem<String, Int> {
        QueuedItem(request: request, index: index, key: key, payload: "r\(request).\(index)", cost: cost,
                   enqueued: t0 + offset, deadline: t0 + offset + timeout)
    }

    private func batch(_ decision: BatchQueue<String, Int>.Decision) -> [String]? {
        if case .run(let items) = decision { return items.map(\.payload) }
        return nil
    }

    @Test func runsWhatIsThereWithoutWaitingByDefault() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(maxBatchItems: 4))
        #expect(batch(queue.next(now: t0)) == nil)
        _ = queue.admit([item(1)])
        #expect(batch(queue.next(now: t0)) == ["r1.0"])
        if case .idle = queue.next(now: t0) {} else { Issue.record("an empty queue is idle") }
    }

    @Test func takesAtMostTheBudgetInArrivalOrder() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(maxBatchItems: 3))
        for r in 1...5 { _ = queue.admit([item(UInt64(r))]) }
        #expect(batch(queue.next(now: t0)) == ["r1.0", "r2.0", "r3.0"])
        #expect(batch(queue.next(now: t0)) == ["r4.0", "r5.0"])
    }

    @Test func keepsBatchesWithinThePixelBudget() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(maxBatchItems: 8, maxWait: .seconds(1), maxBatchPixels: 100))
        for r in 1...3 { _ = queue.admit([item(UInt64(r), cost: 40)]) }
        _ = queue.admit([item(4, key: 1, cost: 500)])
        #expect(batch(queue.next(now: t0)) == ["r1.0", "r2.0"], "a batch at its pixel budget does not wait")
        #expect(batch(queue.next(now: t0)) == nil, "r3 waits for company")
        #expect(batch(queue.next(now: t0 + .seconds(1))) == ["r3.0"])
        #expect(batch(queue.next(now: t0 + .seconds(1))) == ["r4.0"], "a single heavier item runs alone")
    }

    @Test func batchesOnlyItemsWithTheHeadsKey() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(maxBatchItems: 8))
        _ = queue.admit([item(1, key: 256)])
        _ = queue.admit([item(2, key: 512)])
        _ = queue.admit([item(3, key: 256)])
        #expect(batch(queue.next(now: t0)) == ["r1.0", "r3.0"])
        #expect(batch(queue.next(now: t0)) == ["r2.0"])
    }

    @Test func waitsForMoreOnlyUpToMaxWaitFromTheOldestItem() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(maxBatchItems: 3, maxWait: .milliseconds(5)))
        _ = queue.admit([item(1)])
        guard case .wait(let until) = queue.next(now: t0 + .milliseconds(1)) else {
            Issue.record("a partial batch waits"); return
        }
        #expect(until == t0 + .milliseconds(5))
        _ = queue.admit([item(2, at: .milliseconds(2))])
        #expect(batch(queue.next(now: t0 + .milliseconds(3))) == nil)
        #expect(batch(queue.next(now: t0 + .milliseconds(5))) == ["r1.0", "r2.0"])
        for r in 3...5 { _ = queue.admit([item(UInt64(r), at: .milliseconds(6))]) }
        #expect(batch(queue.next(now: t0 + .milliseconds(6))) == ["r3.0", "r4.0", "r5.0"], "a full batch never waits")
    }

    @Test func admitsWholeRequestsWithinCapacity() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(queueCapacity: 3))
        let first = queue.admit([item(1, 0), item(1, 1)])
        let second = queue.admit([item(2, 0), item(2, 1)])
        #expect(first)
        #expect(!second, "two more items do not fit in three")
        #expect(queue.count == 2)
        let third = queue.admit([item(3)])
        let fourth = queue.admit([item(4)])
        #expect(third && !fourth)
    }

    @Test func admitsAnOversizedRequestIntoAnEmptyQueue() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy(queueCapacity: 1))
        let admitted = queue.admit([item(1, 0), item(1, 1)])
        #expect(admitted)
    }

    @Test func expiresWholeRequestsAtTheirDeadline() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy())
        _ = queue.admit([item(1, 0, timeout: .milliseconds(10)), item(1, 1, timeout: .milliseconds(10))])
        _ = queue.admit([item(2, timeout: .milliseconds(20))])
        #expect(queue.nextDeadline == t0 + .milliseconds(10))
        #expect(queue.expire(now: t0 + .milliseconds(9)).isEmpty)
        #expect(queue.expire(now: t0 + .milliseconds(10)) == [1])
        #expect(queue.count == 1)
        #expect(queue.nextDeadline == t0 + .milliseconds(20))
    }

    @Test func removesCancelledRequests() {
        var queue = BatchQueue<String, Int>(policy: BatchPolicy())
        _ = queue.admit([item(1)])
        _ = queue.admit([item(2, 0), item(2, 1)])
        #expect(queue.remove(request: 2) == 2)
        #expect(queue.remove(request: 7) == 0)
        #expect(batch(queue.next(now: t0)) == ["r1.0"])
    }
}
