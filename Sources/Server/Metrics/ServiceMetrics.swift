import CoreMetrics
import Prometheus

/// Where a request's time goes; each stage has its latency histogram.
public enum Stage: String, Sendable, CaseIterable {
    case queue, imageDecode = "image_decode", preprocess, encoder, quantize, decoder
    case imageEncode = "image_encode"
}

/// The service's metrics, recorded through swift-metrics into a Prometheus registry of its own
/// (no global bootstrap: each service, and each test, has its own).
public final class ServiceMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let counters = Locked<[String: CoreMetrics.Counter]>([:])
    private let totals = Locked<[String: Int64]>([:])
    private let inFlight: Meter

    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.valueHistogramBuckets = ["vqtok_batch_size": Self.batchBuckets]
        self.factory = factory
        inFlight = Meter(label: "vqtok_requests_in_flight", factory: factory)
    }

    /// A counter, made once per name and dimensions (label names must stay the same per name).
    private func counter(_ label: String, _ dimensions: [(String, String)]) -> CoreMetrics.Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    /// One answered request: `route` is the route template (`/v1/models/{model}/encode`), never
    /// the raw path, so the label set stays bounded.
    public func request(route: String, method: String, status: Int, duration: Duration) {
        counter("vqtok_requests_total", [("route", route), ("method", method), ("status", String(status))]).increment()
        Timer(label: "vqtok_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    public func stage(_ stage: Stage, model: String, duration: Duration) {
        Timer(label: "vqtok_stage_duration_seconds", dimensions: [("model", model), ("stage", stage.rawValue)],
              factory: factory).recordNanoseconds(duration.nanoseconds)
    }

    public func batch(model: String, items: Int) {
        Recorder(label: "vqtok_batch_size", dimensions: [("model", model)], aggregate: true, factory: factory)
            .record(items)
    }

    public func queueDepth(model: String, items: Int) {
        Gauge(label: "vqtok_queue_depth", dimensions: [("model", model)], factory: factory).record(items)
    }

    /// Requests refused (queue full), expired (deadline) or cancelled (client gone) before running.
    public func dropped(model: String, reason: String, items: Int) {
        counter("vqtok_dropped_items_total", [("model", model), ("reason", reason)]).increment(by: items)
    }

    public func requestStarted() { inFlight.increment() }
    public func requestFinished() { inFlight.decrement() }

    /// Brings a counter up to a running total read elsewhere (the HTTP server's statistics): adds
    /// what the total grew by since the last scrape.
    public func syncTotal(_ label: String, dimensions: [(String, String)], total: Int64) {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        let delta = totals.withLock { seen in
            defer { seen[key] = max(seen[key] ?? 0, total) }
            return total - (seen[key] ?? 0)
        }
        let counter = counter(label, dimensions)
        if delta > 0 { counter.increment(by: delta) }
    }

    /// A value read at scrape time (codebook utilization, perplexity).
    public func set(_ label: String, dimensions: [(String, String)], value: Double) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// The Prometheus text exposition (format 0.0.4).
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

extension ServiceMetrics {
    /// Sets a model's codebook-health gauges from its statistics (called at scrape time).
    public func publish(health: CodebookHealth, model: String) {
        for (window, figures) in [("recent", health.recent), ("total", health.sinceStart)] {
            let dimensions = [("model", model), ("window", window)]
            set("vqtok_codebook_utilization", dimensions: dimensions, value: figures.utilization)
            set("vqtok_token_perplexity", dimensions: dimensions, value: figures.perplexity)
            set("vqtok_tokens_observed", dimensions: dimensions, value: Double(figures.tokens))
        }
    }
}
