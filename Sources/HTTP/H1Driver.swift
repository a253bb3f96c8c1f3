/// HTTP/1.1 on one connection (RFC 9112): one request at a time, keep-alive, Content-Length and
/// chunked request bodies. Pipelined requests wait (bounded) until the one before is answered.
/// Not Sendable: owned by its Connection and touched only on the connection's queue.
final class H1Driver: ConnectionDriver {
    unowned let connection: Connection
    let config: HTTPServerConfiguration
    let stats: StatsBuffer
    private var parser: H1Parser
    /// Input that arrived while a request was in flight (pipelining), parsed afterwards.
    private var backlog: [UInt8] = []
    private var inFlight: (head: H1RequestHead, bodyBytes: Int, startedAt: UInt64, task: Task<Void, Never>?)?
    private var requestCount: Int64 = 0
    /// The response being written: head already in `pendingHead`, body sent from `bodyOffset`.
    private var pendingHead: [UInt8] = []
    private var pendingBody: [UInt8] = []
    private var bodyOffset = 0
    private var responding = false
    private var closeAfterResponse = false
    private var done = false
    private var failed = false
    private(set) var prefaceComplete = false
    private(set) var headerStartedAt: UInt64?
    /// The current request's header section is parsed and its body is arriving.
    private(set) var isReceivingBody = false
    /// Bytes of request bodies (framing included) parsed so far.
    private(set) var requestBodyBytes = 0

    init(connection: Connection) {
        self.connection = connection
        self.config = connection.context.configuration
        self.stats = connection.stats
        self.parser = H1Parser(maxHeaderBytes: config.maxHeaderBytes, maxHeaderCount: config.maxHeaderCount,
                               maxBodyBytes: config.maxRequestBodyBytes)
        stats.update { $0.http1Connections += 1 }
    }

    // MARK: ConnectionDriver

    func receive(_ bytes: UnsafeRawBufferPointer) -> String? {
        prefaceComplete = true
        if done || failed { return nil }  // draining input after a final response
        if inFlight != nil || responding {
            backlog.append(contentsOf: bytes)
            return nil
        }
        parse(bytes)
        return nil
    }

    private func parse(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while !failed && inFlight == nil {
            if headerStartedAt == nil && offset < bytes.count { headerStartedAt = Connection.now() }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let (consumed, step) = parser.parse(rest)
            offset += consumed
            if isReceivingBody { requestBodyBytes += consumed }
            if case .needMore = step {} else { isReceivingBody = false }
            switch step {
            case .needMore:
                return
            case .head(let head):
                headerStartedAt = nil
                isReceivingBody = true
                // RFC 9110 §10.1.1: tell a client waiting for 100-continue to send the body.
                if head.expectContinue && head.minorVersion == 1 {
                    pendingHead.append(contentsOf: Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            case .message(let message):
                headerStartedAt = nil
                dispatch(message)
                if offset < bytes.count { backlog.append(contentsOf: bytes[offset...]) }
                return
            case .failure(let error):
                failed = true
                headerStartedAt = nil
                let head = parser.currentHead
                respond(.error(status: error.status, error.message, type: error.type),
                        method: head?.method ?? "-", path: head?.target ?? "-", startedAt: Connection.now(),
                        bodyBytes: 0, keepAlive: false)
                return
            }
        }
    }

    private func dispatch(_ message: H1Message) {
        let head = message.head
        let (path, query) = HTTPRequest.splitTarget(head.target)
        let request = HTTPRequest(method: head.method, path: path, query: query, headers: head.headers,
                                  body: message.body, version: .http1_1,
                                  remoteAddress: connection.remoteAddress, streamID: 0)
        requestCount += 1
        let startedAt = Connection.now()
        if let response = connection.answerInline(request) {
            return respond(response, method: head.method, path: head.target, startedAt: startedAt,
                           bodyBytes: message.body.count, keepAlive: head.keepAlive && !closeAfterResponse)
        }
        inFlight = (head, message.body.count, startedAt, nil)
        inFlight?.task = connection.spawn(request, token: requestCount)
    }

    func handlerFinished(token: Int64, response: HTTPResponse) {
        guard let current = inFlight, token == requestCount else { return }
        inFlight = nil
        let keepAlive = current.head.keepAlive && !closeAfterResponse
        respond(response, method: current.head.method, path: current.head.target,
                startedAt: current.startedAt, bodyBytes: current.bodyBytes, keepAlive: keepAlive)
    }

    /// Serializes the status line and headers (RFC 9112 §4, §6.2) and queues the body.
    private func respond(_ response: HTTPResponse, method: String, path: String, startedAt: UInt64,
                         bodyBytes: Int, keepAlive: Bool) {
        if !keepAlive { closeAfterResponse = true }
        var head = "HTTP/1.1 \(response.status) \(HTTPStatus.reason(response.status))\r\n"
        for f in response.headers.fields where !H1Driver.isFraming(f.name) {
            head += "\(f.name): \(f.value)\r\n"
        }
        let allowsBody = HTTPStatus.allowsBody(response.status)
        if allowsBody { head += "content-length: \(response.body.count)\r\n" }
        if closeAfterResponse { head += "connection: close\r\n" }
        head += "\r\n"
        pendingHead.append(contentsOf: head.utf8)
        pendingBody = allowsBody && method != "HEAD" ? response.body : []
        bodyOffset = 0
        responding = true
        stats.request(status: response.status)
        connection.logAccess(method: method, path: path, status: response.status, bytesIn: bodyBytes,
                             bytesOut: pendingBody.count, startedAt: startedAt, version: .http1_1)
    }

    private static func isFraming(_ name: String) -> Bool {
        name == "content-length" || name == "transfer-encoding" || name == "connection"
    }

    func produce(into out: inout OutputBuffer, limit: Int) -> String? {
        if !pendingHead.isEmpty {
            out.append(pendingHead)
            pendingHead.removeAll(keepingCapacity: true)
        }
        guard responding else { return nil }
        if bodyOffset < pendingBody.count {
            let take = min(pendingBody.count - bodyOffset, max(limit - out.count, 0))
            out.append(pendingBody[bodyOffset..<(bodyOffset + take)])
            bodyOffset += take
        }
        if bodyOffset == pendingBody.count {
            responding = false
            pendingBody = []
            bodyOffset = 0
            responseSent()
        }
        return nil
    }

    /// The previous response is fully queued: close, or go on with pipelined input.
    private func responseSent() {
        if closeAfterResponse { done = true; return }
        guard !backlog.isEmpty, inFlight == nil, !failed else { return }
        let input = backlog
        backlog = []
        input.withUnsafeBytes { parse($0) }
    }

    var isDone: Bool { done }
    /// Stop reading while a request is in flight and the pipelined backlog is already large.
    var wantsRead: Bool { backlog.count < config.maxHeaderBytes + 64 << 10 }
    var isBusy: Bool { inFlight != nil || responding }
    var lingerBeforeClose: Bool { failed }

    /// RFC 9110 §15.5.9: 408, then close (the rest of the body is not waited for).
    func rejectSlowBodies(message: String) -> Int {
        guard isReceivingBody, let head = parser.currentHead else { return 0 }
        isReceivingBody = false
        failed = true
        respond(.error(status: 408, message, type: "body_too_slow"), method: head.method, path: head.target,
                startedAt: Connection.now(), bodyBytes: 0, keepAlive: false)
        return 1
    }

    func endGracefully(reason: String) -> Bool {
        if reason == "header_timeout" && inFlight == nil {
            // RFC 9110 §15.5.9: 408 and close.
            failed = true
            headerStartedAt = nil
            respond(.error(status: 408, "request header timeout", type: "timeout"), method: "-", path: "-",
                    startedAt: Connection.now(), bodyBytes: 0, keepAlive: false)
            return true
        }
        return false
    }

    /// RFC 9112 §9.6: finish the request in flight with `connection: close`; close if idle.
    func beginShutdown() {
        closeAfterResponse = true
        if inFlight == nil && !responding && parser.isAtMessageBoundary { done = true }
    }

    func shutdownNoticeElapsed() {}

    func connectionClosed() {
        if let task = inFlight?.task {
            task.cancel()
            stats.update { $0.handlersCancelled += 1 }
        }
        inFlight = nil
    }
}
