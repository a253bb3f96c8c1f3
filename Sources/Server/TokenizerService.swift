import Foundation

/// The tokenizer service: routes, validation, one batching queue per model, metrics.
///
///     let service = TokenizerService(models: [try LoadedModel.load(from: url)], configuration: .init())
///     let server = HTTPServer(handler: service.makeHandler())   // HTTP knows nothing of models
///     try server.start(port: 8080)
///     service.attach(server)              // HTTP/2 resets and GOAWAYs in /metrics
///     try await service.warmUp()          // /readyz answers 200 from here on
///     ... service.readiness = .draining   // on SIGTERM, before the server drains
///     service.shutdown()
public final class TokenizerService: Sendable {
    public let configuration: ServiceConfiguration
    public let metrics: ServiceMetrics
    private let runtimes = Locked<[ModelRuntime]>([])
    private let state = Locked(Readiness.loading)
    private let transport = Locked<(@Sendable () -> TransportSnapshot)?>(nil)

    public init(models: [LoadedModel] = [], configuration: ServiceConfiguration = ServiceConfiguration()) {
        self.configuration = configuration
        metrics = ServiceMetrics()
        for model in models { register(model) }
    }

    /// Adds a model (status "loading" until `warmUp` has run it once). Names must be unique.
    public func register(_ model: LoadedModel) {
        let runtime = ModelRuntime(model: model, configuration: configuration, metrics: metrics)
        runtimes.withLock { list in
            precondition(!list.contains { $0.name == model.name }, "two models are named '\(model.name)'")
            list.append(runtime)
        }
    }

    /// Names of the served models, in registration order.
    public var modelNames: [String] { runtimes.withLock { $0.map(\.name) } }

    /// `.loading` until `warmUp` succeeds; set `.draining` when shutting down. /readyz is 200 only when `.ready`.
    public var readiness: Readiness {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    /// Runs one encode and one decode per model through its queue, then marks the service ready.
    /// Throws the first failure (the service stays not ready).
    public func warmUp() async throws {
        for runtime in runtimes.withLock({ $0 }) {
            do {
                try await runtime.warmUp()
            } catch {
                throw ServiceError.internalError("warm-up of model '\(runtime.name)' failed: \(error.message)")
            }
        }
        state.withLock { if $0 == .loading { $0 = .ready } }
    }

    /// Where /metrics reads the transport's counters (see `attach(_:)` for the HTTP server).
    public func attachTransport(_ snapshot: @escaping @Sendable () -> TransportSnapshot) {
        transport.withLock { $0 = snapshot }
    }

    /// Stops every model's workers; queued requests fail with 503.
    public func shutdown() {
        state.withLock { $0 = .draining }
        for runtime in runtimes.withLock({ $0 }) { runtime.shutdown() }
    }

    func runtime(named name: String) -> ModelRuntime? { runtimes.withLock { $0.first { $0.name == name } } }
    var allRuntimes: [ModelRuntime] { runtimes.withLock { $0 } }
    var transportSnapshot: TransportSnapshot? { transport.withLock { $0 }?() }
}
