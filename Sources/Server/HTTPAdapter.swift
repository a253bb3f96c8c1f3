import HTTP

/// The bridge to the HTTP module: the HTTP layer knows nothing of tokenizers; this file maps its
/// requests and responses to the service's and feeds its statistics into /metrics.
struct TokenizerHTTPHandler: HTTPHandler {
    let service: TokenizerService

    /// Health, readiness, metrics and model info are answered on the connection's queue.
    func respondInline(to request: HTTPRequest) -> HTTPResponse? {
        service.respondAtOnce(to: Self.serviceRequest(request)).map(Self.httpResponse)
    }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        Self.httpResponse(await service.respond(to: Self.serviceRequest(request)))
    }

    static func serviceRequest(_ request: HTTPRequest) -> ServiceRequest {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.lowercased()
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        return ServiceRequest(method: request.method, path: request.path, query: request.query,
                              headers: headers, body: request.body)
    }

    static func httpResponse(_ answer: ServiceResponse) -> HTTPResponse {
        var out = HTTPHeaders()
        for (name, value) in answer.headers { out.add(name, value) }
        return HTTPResponse(status: answer.status, headers: out, body: answer.body)
    }
}

extension TokenizerService {
    /// The handler to give `HTTPServer(handler:)`.
    public func makeHandler() -> any HTTPHandler { TokenizerHTTPHandler(service: self) }

    /// Reads `server`'s statistics into /metrics at each scrape (connections, HTTP/2 resets and
    /// GOAWAYs, cancelled handlers). The server is held weakly.
    public func attach(_ server: HTTPServer) {
        attachTransport { [weak server] in
            guard let stats = server?.stats() else { return TransportSnapshot() }
            return TransportSnapshot(stats)
        }
    }
}

extension TransportSnapshot {
    init(_ stats: HTTPServerStats) {
        var counters: [(label: String, dimensions: [(String, String)], total: Int64)] = [
            ("vqtok_http_connections_total", [], Int64(stats.connectionsTotal)),
            ("vqtok_http_connections_rejected_total", [], Int64(stats.connectionsRejected)),
            ("vqtok_http2_streams_total", [], Int64(stats.streamsTotal)),
            ("vqtok_http2_resets_total", [("direction", "received")], Int64(stats.resetsReceived)),
            ("vqtok_http2_resets_total", [("direction", "sent")], Int64(stats.resetsSent)),
            ("vqtok_http_handlers_cancelled_total", [], Int64(stats.handlersCancelled)),
            ("vqtok_http_request_bodies_too_slow_total", [], Int64(stats.requestBodiesTooSlow)),
        ]
        for (reason, count) in stats.connectionsClosedByReason.sorted(by: { $0.key < $1.key }) {
            counters.append(("vqtok_http_connections_closed_total", [("reason", reason)], Int64(count)))
        }
        for (code, count) in stats.goawaysSent.sorted(by: { $0.key < $1.key }) {
            counters.append(("vqtok_http2_goaways_sent_total", [("code", code)], Int64(count)))
        }
        self.init(counters: counters, gauges: [
            ("vqtok_http_connections_open", [], Double(stats.connectionsOpen)),
            ("vqtok_http2_streams_open", [], Double(stats.streamsOpen)),
            ("vqtok_http_handlers_running", [], Double(stats.handlersRunning)),
        ])
    }
}
