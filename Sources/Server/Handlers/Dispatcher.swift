/// Routes a request, answers every failure as a JSON error, counts it in the metrics and adds
/// the timing headers (x-queue-time, x-compute-time, x-total-time, in milliseconds).
extension TokenizerService {
    func respond(to request: ServiceRequest) async -> ServiceResponse {
        let start = ContinuousClock.now
        metrics.requestStarted()
        defer { metrics.requestFinished() }
        let route = Route.match(request.path)
        var response: ServiceResponse
        do {
            response = try await answer(request, route: route)
        } catch {
            response = ServiceResponse(error: error)
        }
        return finish(response, to: request, route: route, since: start)
    }

    /// The same answer as `respond(to:)` for the routes that answer from memory at once
    /// (`Route.answersAtOnce`: health, readiness, metrics, model info); nil for the others.
    /// Synchronous, so the HTTP layer can run it on the connection's queue.
    func respondAtOnce(to request: ServiceRequest) -> ServiceResponse? {
        guard let route = Route.match(request.path), route.answersAtOnce else { return nil }
        let start = ContinuousClock.now
        metrics.requestStarted()
        defer { metrics.requestFinished() }
        var response: ServiceResponse
        do {
            response = try answerAtOnce(request, route: try allowed(request, route: route))
        } catch {
            response = ServiceResponse(error: error)
        }
        return finish(response, to: request, route: route, since: start)
    }

    /// HEAD without a body, the timing headers, and the request counted in the metrics.
    private func finish(_ answer: ServiceResponse, to request: ServiceRequest, route: Route?,
                        since start: ContinuousClock.Instant) -> ServiceResponse {
        var response = answer
        if request.method == "HEAD" { response.body = [] }
        let total = ContinuousClock.now - start
        if response.computeTime == .zero && response.queueTime == .zero { response.computeTime = total }
        response.headers += [("x-queue-time", Self.ms(response.queueTime)),
                             ("x-compute-time", Self.ms(response.computeTime)),
                             ("x-total-time", Self.ms(total))]
        // Labels stay bounded whatever clients send: route templates, known methods, statuses.
        let method = Self.knownMethods.contains(request.method) ? request.method : "other"
        metrics.request(route: route?.template ?? Route.unmatchedTemplate, method: method,
                        status: Task.isCancelled ? ServiceError.cancelled.status : response.status, duration: total)
        return response
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    static func ms(_ d: Duration) -> String {
        let value = (d.milliseconds * 1000).rounded() / 1000
        return String(value)
    }

    private func answer(_ request: ServiceRequest, route: Route?) async throws(ServiceError) -> ServiceResponse {
        guard let route else { throw .notFound("no route for \(request.path); see GET /v1/models") }
        switch try allowed(request, route: route) {
        case .encode(let name):
            let runtime = try servingModel(name)
            let input = ImageInput(maxImagePixels: configuration.maxImagePixels,
                                   maxNativePixels: configuration.maxNativePixels,
                                   maxItems: configuration.maxItemsPerRequest)
            return try await EncodeHandler(input: input, metrics: metrics).handle(request, model: runtime)
        case .decode(let name):
            let runtime = try servingModel(name)
            return try await DecodeHandler(metrics: metrics, defaultQuality: configuration.defaultJPEGQuality)
                .handle(request, model: runtime)
        case .healthz, .readyz, .metrics, .models, .model:
            return try answerAtOnce(request, route: route)
        }
    }

    /// `route`, when it answers `request.method`; else 405.
    private func allowed(_ request: ServiceRequest, route: Route) throws(ServiceError) -> Route {
        guard route.methods.contains(request.method) else {
            throw .methodNotAllowed(request.method, path: request.path, allowed: route.methods)
        }
        return route
    }

    /// The routes answered from memory: no model work, no waiting.
    private func answerAtOnce(_ request: ServiceRequest, route: Route) throws(ServiceError) -> ServiceResponse {
        switch route {
        case .healthz:
            return ServiceResponse(json: "{\"status\":\"ok\"}")
        case .readyz:
            let readiness = readiness
            guard readiness == .ready else {
                throw .unavailable("not ready: \(readiness.rawValue)")
            }
            return ServiceResponse(json: "{\"status\":\"ready\"}")
        case .metrics:
            return ServiceResponse(contentType: ServiceMetrics.contentType, body: scrape())
        case .models:
            return ServiceResponse(json: ModelInfo.list(allRuntimes, configuration: configuration))
        case .model(let name):
            return ServiceResponse(json: ModelInfo.json(try model(name), configuration: configuration))
        case .encode, .decode:
            preconditionFailure("\(route.template) does not answer at once")
        }
    }

    private func model(_ name: String) throws(ServiceError) -> ModelRuntime {
        guard let runtime = runtime(named: name) else {
            let known = allRuntimes.map(\.name).joined(separator: ", ")
            throw .notFound("no model named '\(name)' (served: \(known.isEmpty ? "none" : known))")
        }
        return runtime
    }

    private func servingModel(_ name: String) throws(ServiceError) -> ModelRuntime {
        let runtime = try model(name)
        guard runtime.isReady else { throw .unavailable("model '\(name)' is still loading") }
        return runtime
    }

    /// The exposition, with the scrape-time figures refreshed first.
    func scrape() -> [UInt8] {
        for runtime in allRuntimes { metrics.publish(health: runtime.health, model: runtime.name) }
        if let snapshot = transportSnapshot {
            for counter in snapshot.counters {
                metrics.syncTotal(counter.label, dimensions: counter.dimensions, total: counter.total)
            }
            for gauge in snapshot.gauges { metrics.set(gauge.label, dimensions: gauge.dimensions, value: gauge.value) }
        }
        return metrics.exposition()
    }
}
