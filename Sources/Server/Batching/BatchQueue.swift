/// How one model's queue forms batches and admits work.
public struct BatchPolicy: Sendable, Equatable {
    /// Most items (images or grids) in one batch.
    public var maxBatchItems: Int
    /// How long a batch that is not full may wait for more items, counted from its oldest item's
    /// arrival. Zero (the default): never wait, run what is there as soon as a worker is free.
    public var maxWait: Duration
    /// Most items waiting in the queue; a request that does not fit is refused at once (503).
    public var queueCapacity: Int
    /// How long an item may wait in the queue before its request fails with 504.
    public var timeout: Duration
    /// Threads that run this model's batches, apart from the connection queues.
    public var workers: Int
    /// Most pixels in one batch (input pixels for encode, output pixels for decode), so that a
    /// batch of large images stays within memory; a single larger item still runs alone.
    public var maxBatchPixels: Int

    public init(maxBatchItems: Int = 16, maxWait: Duration = .zero, queueCapacity: Int = 256,
                timeout: Duration = .seconds(30), workers: Int = 1, maxBatchPixels: Int = 1 << 20) {
        precondition(maxBatchItems > 0 && queueCapacity > 0 && workers > 0 && maxBatchPixels > 0,
                     "batch policy values must be positive")
        self.maxBatchItems = maxBatchItems
        self.maxBatchPixels = maxBatchPixels
        self.maxWait = maxWait
        self.queueCapacity = queueCapacity
        self.timeout = timeout
        self.workers = workers
    }
}

/// One item waiting to run: item `index` of request `request`. Items that share a key can run in
/// one batch (images of the same size, for one stacked encoder pass).
struct QueuedItem<Payload, Key: Hashable> {
    var request: UInt64
    var index: Int
    var key: Key
    var payload: Payload
    /// What the item weighs against `maxBatchPixels`.
    var cost: Int = 1
    var enqueued: ContinuousClock.Instant
    var deadline: ContinuousClock.Instant
}

/// The queue's pure state: admission, deadlines and batch formation, with time passed in, so the
/// rules are tested without threads or sleeps. `BatchScheduler` drives it.
struct BatchQueue<Payload, Key: Hashable> {
    typealias Item = QueuedItem<Payload, Key>

    enum Decision {
        /// Run these items as one batch (all share a key; at most `maxBatchItems` and, unless a
        /// single item is heavier, `maxBatchPixels`).
        case run([Item])
        /// A batch is forming; look again at this time (or when items arrive).
        case wait(until: ContinuousClock.Instant)
        case idle
    }

    let policy: BatchPolicy
    private(set) var items: [Item] = []

    init(policy: BatchPolicy) { self.policy = policy }

    var count: Int { items.count }

    /// Adds all of a request's items, or none when they do not fit the capacity. A request larger
    /// than the whole capacity is still admitted into an empty queue, so it is not refused forever.
    mutating func admit(_ newItems: [Item]) -> Bool {
        guard items.isEmpty || items.count + newItems.count <= policy.queueCapacity else { return false }
        items += newItems
        return true
    }

    /// Removes the waiting items of `request` (cancelled); returns how many there were.
    @discardableResult
    mutating func remove(request: UInt64) -> Int {
        let before = items.count
        items.removeAll { $0.request == request }
        return before - items.count
    }

    mutating func removeAll() { items.removeAll() }

    /// Removes every item of each request that has an item past its deadline; returns those requests.
    mutating func expire(now: ContinuousClock.Instant) -> Set<UInt64> {
        let expired = Set(items.lazy.filter { $0.deadline <= now }.map(\.request))
        if !expired.isEmpty { items.removeAll { expired.contains($0.request) } }
        return expired
    }

    /// The earliest deadline of any waiting item.
    var nextDeadline: ContinuousClock.Instant? { items.lazy.map(\.deadline).min() }

    /// What a free worker should do now: the oldest item's key decides the batch; later items with
    /// the same key join it in order until the batch is full.
    mutating func next(now: ContinuousClock.Instant) -> Decision {
        guard let head = items.first else { return .idle }
        var chosen: [Int] = []
        var cost = 0
        var full = false
        for (i, item) in items.enumerated() where item.key == head.key {
            if !chosen.isEmpty && cost + item.cost > policy.maxBatchPixels { full = true; break }
            chosen.append(i)
            cost += item.cost
            if chosen.count == policy.maxBatchItems { full = true; break }
        }
        if !full && policy.maxWait > .zero {
            let readyAt = head.enqueued + policy.maxWait
            if now < readyAt { return .wait(until: readyAt) }
        }
        let batch = chosen.map { items[$0] }
        let taken = Set(chosen)
        items = items.enumerated().filter { !taken.contains($0.offset) }.map(\.element)
        return .run(batch)
    }
}
