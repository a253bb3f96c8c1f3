import CNGHTTP2
import Dispatch
import Glibc

/// HTTP/2 on one connection (RFC 9113), driven through nghttp2's mem_recv / mem_send. nghttp2
/// is called only from here, only on the connection's queue, and never from inside one of its
/// own callbacks (H2Callbacks only submit and record).
/// Not Sendable: owned by its Connection and touched only on the connection's queue.
final class H2Driver: ConnectionDriver {
    unowned let connection: Connection
    let config: HTTPServerConfiguration
    let stats: StatsBuffer
    private(set) var session: OpaquePointer!
    private var streams: [Int32: H2Stream] = [:]
    /// The stream looked up last: the callbacks of one frame (a header each) ask for the same
    /// stream in a row, and a hit skips hashing the id.
    private var lastStream: H2Stream?
    /// Complete requests not yet offered to the handler, or waiting for a handler slot; oldest first.
    private var waiting: [Int32] = []
    private var running = 0
    private var scanner = H2FrameScanner()
    private var headerBlock = H2HeaderBlock()
    var prefaceComplete = false
    /// DATA payload bytes received on every stream (the minimum body rate's running total).
    var requestBodyBytes = 0
    /// Streams to reset once their response is sent (`H2Stream.resetAfterResponse`).
    var resetsAfterResponse = 0
    var headerStartedAt: UInt64?
    /// A fatal condition noticed inside a callback; acted on after mem_recv returns.
    var fatal: String?
    private var shuttingDown = false

    init(connection: Connection) {
        self.connection = connection
        self.config = connection.context.configuration
        self.stats = connection.stats
        stats.update { $0.http2Connections += 1 }
        session = H2Callbacks.makeSession(config: config, userData: Unmanaged.passUnretained(self).toOpaque())
        submitSettings()
    }

    deinit { nghttp2_session_del(session) }

    /// Called from the callbacks when a request's HEADERS frame begins.
    func open(_ s: H2Stream) {
        streams[s.id] = s
        lastStream = s
        stats.update { $0.streamsOpen += 1; $0.streamsTotal += 1 }
    }

    /// The open stream `id`, if any.
    func stream(_ id: Int32) -> H2Stream? {
        if let s = lastStream, s.id == id { return s }
        let s = streams[id]
        if s != nil { lastStream = s }
        return s
    }

    /// RFC 9113 §3.4: the server's preface is a SETTINGS frame; nghttp2 leaves sending it to us.
    private func submitSettings() {
        var iv = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                                   value: UInt32(config.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(min(config.initialStreamWindowBytes, 0x7fff_ffff))),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                                   value: UInt32(config.maxHeaderBytes)),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &iv, iv.count)
        // RFC 9113 §6.9.2: SETTINGS cannot raise the connection window; WINDOW_UPDATE does.
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0,
                                              Int32(min(config.connectionWindowBytes, 0x7fff_ffff)))
    }

    // MARK: ConnectionDriver

    func receive(_ bytes: UnsafeRawBufferPointer) -> String? {
        // RFC 9113 §5.1.1: a new stream id must exceed every id the client used before.
        let backwards = scanner.firstBackwardsHeaders(in: bytes) { id in
            streams[id] != nil || nghttp2_session_find_stream(session, id) != nil
        }
        let usable = backwards ?? bytes.count
        if usable > 0 {
            let r = nghttp2_session_mem_recv(session, bytes.baseAddress!, usable)
            if r < 0 { return H2Driver.reason(forError: Int32(r)) }
        }
        if let fatal { return fatal }
        if backwards != nil {
            nghttp2_session_terminate_session(session, NGHTTP2_PROTOCOL_ERROR.rawValue)
            stats.closed(reason: "stream_id_backwards")
        }
        startHandlers()
        return nil
    }

    static func reason(forError code: Int32) -> String {
        switch code {
        case NGHTTP2_ERR_FLOODED.rawValue: "flood"
        case NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue: "bad_preface"
        case NGHTTP2_ERR_CALLBACK_FAILURE.rawValue: "callback_failure"
        default: "nghttp2_error"
        }
    }

    func produce(into out: inout OutputBuffer, limit: Int) -> String? {
        var data: UnsafePointer<UInt8>?
        while out.count < limit {
            let n = nghttp2_session_mem_send(session, &data)
            if n < 0 { return H2Driver.reason(forError: Int32(n)) }
            if n == 0 { break }  // nothing sendable now (flow control or nothing queued)
            out.append(UnsafeRawBufferPointer(start: data, count: n))
        }
        return fatal
    }

    var isDone: Bool {
        fatal != nil || (nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0)
    }
    var wantsRead: Bool { nghttp2_session_want_read(session) != 0 }
    /// Output that nghttp2 holds back for flow control does not count: a client that grants no
    /// window and sends nothing for the idle timeout is closed (a zero-window slow read).
    var isBusy: Bool { running > 0 || !waiting.isEmpty }
    var lingerBeforeClose: Bool { false }

    var isReceivingBody: Bool { streams.values.contains { $0.isReceivingBody } }

    /// 408 on every stream whose body is still arriving, each reset once its 408 is sent (RFC
    /// 9113 §8.1: a complete response may end a request early); the connection goes on.
    func rejectSlowBodies(message: String) -> Int {
        var rejected = 0
        for s in streams.values where s.isReceivingBody {
            s.resetAfterResponse = true
            resetsAfterResponse += 1
            reject(s, status: 408, type: "body_too_slow", message: message)
            rejected += 1
        }
        return rejected
    }

    /// Called from the callbacks when a stream's last response frame is sent.
    func responseSent(_ s: H2Stream) {
        guard s.resetAfterResponse else { return }
        s.resetAfterResponse = false
        resetsAfterResponse -= 1
        guard !s.resetSent, !s.requestComplete else { return }
        s.resetSent = true
        nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), s.id, NGHTTP2_NO_ERROR.rawValue)
    }

    func endGracefully(reason: String) -> Bool {
        nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR.rawValue)
        return true
    }

    /// RFC 9113 §6.8: a GOAWAY with the maximum id first, so requests in flight are not lost,
    /// then after a round trip's grace the final GOAWAY with the last stream we processed.
    func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        nghttp2_submit_shutdown_notice(session)
    }

    func shutdownNoticeElapsed() {
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue),
                              nghttp2_session_get_last_proc_stream_id(session), NGHTTP2_NO_ERROR.rawValue, nil, 0)
    }

    func connectionClosed() {
        for s in streams.values { cancel(s) }
        stats.update { $0.streamsOpen -= streams.count }
        streams.removeAll()
        lastStream = nil
        waiting.removeAll()
    }

    // MARK: Requests and responses

    /// Called from the callbacks when a request's END_STREAM arrives.
    func requestComplete(_ s: H2Stream) {
        s.requestComplete = true
        guard !s.responded, !s.dispatched else { return }
        s.dispatched = true
        waiting.append(s.id)
    }

    /// Offers each newly complete request to the handler's inline path (answered at once), and
    /// hands the others to handler Tasks while fewer than the per-connection cap run; the rest
    /// keep waiting, in order.
    private func startHandlers() {
        var kept = 0
        for i in waiting.indices {
            let id = waiting[i]
            guard let s = stream(id), !s.responded else { continue }
            let request: HTTPRequest
            if let built = s.request {
                request = built
            } else {
                request = makeRequest(s)
                if let response = connection.answerInline(request) {
                    submit(response, on: s)
                    continue
                }
            }
            if running < config.maxRunningHandlersPerConnection {
                running += 1
                s.request = nil
                s.task = connection.spawn(request, token: Int64(id))
            } else {
                s.request = request
                waiting[kept] = id
                kept += 1
            }
        }
        waiting.removeLast(waiting.count - kept)
    }

    /// The request of a stream whose END_STREAM arrived; takes its headers and body.
    private func makeRequest(_ s: H2Stream) -> HTTPRequest {
        var headers = s.headers
        s.headers = HTTPHeaders()  // keeps `headers` uniquely referenced: no copy on append
        if !s.authority.isEmpty && !headers.fields.contains(where: { $0.name == "host" }) {
            headers.appendLowercased("host", s.authority)
        }
        let (path, query) = HTTPRequest.splitTarget(s.path)
        let request = HTTPRequest(method: s.method, path: path, query: query, headers: headers,
                                  body: s.body, version: .http2,
                                  remoteAddress: connection.remoteAddress, streamID: s.id)
        s.body = []
        return request
    }

    func handlerFinished(token: Int64, response: HTTPResponse) {
        running -= 1
        if let s = stream(Int32(token)), !s.responded {
            s.task = nil
            submit(response, on: s)
        }
        startHandlers()
    }

    /// Submits a complete response (headers + body from memory through a data provider).
    /// Safe inside callbacks: nghttp2 allows submit_* there.
    func submit(_ response: HTTPResponse, on s: H2Stream) {
        s.responded = true
        s.status = response.status
        let hasBody = HTTPStatus.allowsBody(response.status) && s.method != "HEAD"
        s.responseBody = hasBody ? response.body : []
        headerBlock.reset()
        headerBlock.add(":status", decimal: response.status)
        for f in response.headers.fields where !H2Driver.isConnectionSpecific(f.name) && f.name != "content-length" {
            headerBlock.add(f.name, f.value)
        }
        if HTTPStatus.allowsBody(response.status) {
            headerBlock.add("content-length", decimal: response.body.count)
        }
        stats.request(status: response.status)
        let session = self.session
        let rv = headerBlock.withNV { nva, count in
            var provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil),
                                                 read_callback: H2Callbacks.readBody)
            return s.responseBody.isEmpty
                ? nghttp2_submit_response(session, s.id, nva, count, nil)
                : nghttp2_submit_response(session, s.id, nva, count, &provider)
        }
        if rv != 0 { fatal = "submit_failed" }
    }

    /// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2.
    static func isConnectionSpecific(_ name: String) -> Bool {
        switch name {
        case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade": true
        default: false
        }
    }

    func reject(_ s: H2Stream, status: Int, type: String, message: String) {
        guard !s.responded else { return }
        s.body = []
        cancel(s)
        submit(.error(status: status, message, type: type), on: s)
    }

    func cancel(_ s: H2Stream) {
        guard let task = s.task else { return }
        task.cancel()
        s.task = nil
        stats.update { $0.handlersCancelled += 1 }
    }

    /// Stream closed (by either side, after a response or a reset).
    func streamClosed(_ id: Int32, errorCode: UInt32) {
        guard let s = streams.removeValue(forKey: id) else { return }
        if lastStream === s { lastStream = nil }
        if s.resetAfterResponse { resetsAfterResponse -= 1 }
        stats.update { $0.streamsOpen -= 1 }
        cancel(s)
        if s.responded {
            connection.logAccess(method: s.method, path: s.path, status: s.status,
                                 bytesIn: s.bodyBytesReceived, bytesOut: s.responseOffset,
                                 startedAt: s.startedAt, version: .http2)
        }
    }
}
