import Dispatch
import Foundation
import Glibc
import Logging

/// What a connection asks of the protocol spoken on it (HTTP/1.1 or HTTP/2). A driver is a
/// plain state holder: the connection does all I/O and calls it only on the connection's queue.
protocol ConnectionDriver: AnyObject {
    /// Bytes read from the socket. Returns a close reason when the connection must end now.
    func receive(_ bytes: UnsafeRawBufferPointer) -> String?
    /// Appends output to `out` until it holds `limit` bytes or there is nothing more to send.
    func produce(into out: inout OutputBuffer, limit: Int) -> String?
    /// A handler returned; `token` is what the driver passed to `Connection.spawn`.
    func handlerFinished(token: Int64, response: HTTPResponse)
    /// Nothing more to read or write: close as soon as the output is flushed.
    var isDone: Bool { get }
    /// Whether the connection should keep reading now (besides output back-pressure).
    var wantsRead: Bool { get }
    /// A handler is running or a response is being sent: the idle timeout does not apply.
    /// (A request still arriving does not count: a client silent for the idle timeout
    /// mid-request is closed, which bounds slow uploads that stall.)
    var isBusy: Bool { get }
    /// The preface (HTTP/2) or the first request line (HTTP/1.1) has been received.
    var prefaceComplete: Bool { get }
    /// When the header section now arriving began (for the header timeout), in uptime ns.
    var headerStartedAt: UInt64? { get }
    /// Request body bytes received on this connection so far (a running total).
    var requestBodyBytes: Int { get }
    /// A request body is arriving: its header section is complete, its end is not, and it is
    /// not answered yet.
    var isReceivingBody: Bool { get }
    /// The bodies arriving came slower than the minimum rate: answer each 408 (`message`) and
    /// stop taking them. Returns how many requests were answered.
    func rejectSlowBodies(message: String) -> Int
    /// The header, idle or drain state timed out: end politely (GOAWAY / 408) or return false
    /// to have the connection closed at once.
    func endGracefully(reason: String) -> Bool
    /// Stop taking new requests; finish those in flight (RFC 9113 §6.8, RFC 9112 §9.6).
    func beginShutdown()
    /// `HTTPServerConfiguration.shutdownNoticeDelay` after `beginShutdown` (final GOAWAY).
    func shutdownNoticeElapsed()
    /// The connection is closing: cancel every handler still running.
    func connectionClosed()
    /// After the output is flushed and the driver is done, linger (drain input) before closing,
    /// so an unread request body does not turn our last response into a TCP reset.
    var lingerBeforeClose: Bool { get }
}

/// One accepted socket: its serial queue, read/write sources, timer and output buffer.
/// @unchecked Sendable: all mutable state is touched only on `queue` (checked with
/// dispatchPrecondition in debug builds); other threads only call `queue.async`.
final class Connection: @unchecked Sendable {
    let fd: Int32
    let queue: DispatchQueue
    let remoteAddress: String
    let context: ServerContext
    let stats: StatsBuffer
    private var config: HTTPServerConfiguration { context.configuration }

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var readSuspended = false
    private var writeArmed = false
    private var sourcesLeft = 0

    private var out = OutputBuffer()
    private var sniffed: [UInt8] = []
    private(set) var driver: ConnectionDriver?
    /// Handler results not yet taken over by the queue (filled from handler Tasks).
    private let finished = Locked<[(token: Int64, response: HTTPResponse)]>([])
    private var shutdownRequested = false

    private enum State { case open, lingering, closed }
    private var state = State.open

    private var bodyRate: BodyRateMeter
    private let acceptedAt = Connection.now()
    private var lastActivity = Connection.now()
    /// When the read being processed returned: the drivers' clock for what arrived in it
    /// (one clock read per read(2), not one per request).
    private(set) var lastReadAt = Connection.now()
    private var lastWriteProgress = Connection.now()
    private var readBuffer: UnsafeMutableRawBufferPointer

    init(fd: Int32, remoteAddress: String, context: ServerContext) {
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.context = context
        self.stats = StatsBuffer(context.stats)
        self.bodyRate = BodyRateMeter(minBytesPerSecond: context.configuration.minRequestBodyBytesPerSecond,
                                      window: context.configuration.requestBodyRateWindow)
        // Targets the user-initiated global queue: Dispatch runs it on at most one thread per
        // core, apart from the default-QoS threads of the handlers' Tasks (`spawn`) and the
        // kernels. The default overcommit root queue gave busy connections a thread each (77–122
        // threads for h2load's 64) and cost 5–15 % more CPU per request (Benchmarks/http.md).
        // Nothing on a connection's queue blocks: sockets are non-blocking.
        self.queue = DispatchQueue(label: "vqtok.http.connection", target: .global(qos: .userInitiated))
        self.readBuffer = .allocate(byteCount: 64 << 10, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func start() {
        queue.async { self.setUp() }
    }

    private func setUp() {
        dispatchPrecondition(condition: .onQueue(queue))
        let rs = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        let ws = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        // Dispatch requires the descriptor to stay open until every source on it is cancelled.
        sourcesLeft = 2
        let cancelled: @Sendable () -> Void = { [self] in
            sourcesLeft -= 1
            if sourcesLeft == 0 { Glibc.close(fd) }
        }
        rs.setEventHandler { [self] in onReadable() }
        rs.setCancelHandler(handler: cancelled)
        ws.setEventHandler { [self] in flush() }
        ws.setCancelHandler(handler: cancelled)
        readSource = rs
        writeSource = ws
        rs.resume()  // the write source stays suspended until a write would block

        let t = DispatchSource.makeTimerSource(queue: queue)
        var periods = [config.prefaceTimeout, config.headerTimeout, config.idleTimeout, config.writeTimeout]
        if bodyRate.isEnabled { periods.append(bodyRate.window) }
        let shortest = periods.min()!
        let interval = min(max(shortest.seconds / 4, 0.01), 1.0)
        t.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(Int(interval * 100)))
        t.setEventHandler { [self] in tick() }
        timer = t
        t.resume()
        if shutdownRequested { close(reason: nil) }
    }

    // MARK: Reading

    private func onReadable() {
        dispatchPrecondition(condition: .onQueue(queue))
        // A full buffer means more may be waiting: read again before waiting for another event.
        var reads = 0
        while readAndProcess() == readBuffer.count && reads < 4 { reads += 1 }
    }

    /// One read(2) and what it leads to. Returns the bytes read (0 when none or closed).
    @discardableResult
    private func readAndProcess() -> Int {
        guard state != .closed, !readSuspended else { return 0 }
        let n = Glibc.read(fd, readBuffer.baseAddress, readBuffer.count)
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return 0 }
            close(reason: "read_error")
            return 0
        }
        if n == 0 {
            close(reason: state == .lingering ? nil : "peer_closed")
            return 0
        }
        lastReadAt = Connection.now()
        lastActivity = lastReadAt
        stats.update { $0.bytesIn += n }
        if state == .lingering { return n }
        let bytes = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
        if let d = driver {
            if let reason = d.receive(bytes) { close(reason: reason); return 0 }
        } else {
            sniffed.append(contentsOf: bytes)
            switch ProtocolSniffer.classify(sniffed) {
            case .needMore: return n
            case .http2: driver = H2Driver(connection: self)
            case .http1: driver = H1Driver(connection: self)
            }
            if shutdownRequested { driver?.beginShutdown(); driver?.shutdownNoticeElapsed() }
            let first = sniffed
            sniffed = []
            if let reason = first.withUnsafeBytes({ driver!.receive($0) }) { close(reason: reason); return 0 }
        }
        flush()
        return n
    }

    private func updateReadInterest() {
        guard let rs = readSource, state != .closed else { return }
        let want = state == .lingering || ((driver?.wantsRead ?? true) && out.count < config.maxOutputBufferBytes)
        if want && readSuspended {
            rs.resume(); readSuspended = false
        } else if !want && !readSuspended {
            rs.suspend(); readSuspended = true
        }
    }

    // MARK: Writing

    /// Moves driver output to the socket until it would block, is empty, or is over the bound.
    func flush() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard state == .open, let d = driver else { return }
        defer { stats.commit() }
        let limit = config.maxOutputBufferBytes
        while true {
            if out.count < limit, let reason = d.produce(into: &out, limit: limit) {
                return close(reason: reason)
            }
            if out.isEmpty { break }
            stats.commit()  // counters are current before the client can see this output
            switch out.write(to: fd) {
            case .wrote(let n):
                lastWriteProgress = Connection.now()
                stats.update { $0.bytesOut += n }
                continue
            case .wouldBlock:
                armWrite(true)
                updateReadInterest()
                return
            case .failed:
                return close(reason: "write_error")
            }
        }
        armWrite(false)
        if d.isDone {
            if d.lingerBeforeClose { return linger() }
            return close(reason: nil)
        }
        updateReadInterest()
    }

    private func armWrite(_ on: Bool) {
        guard let ws = writeSource, on != writeArmed else { return }
        if on { ws.resume() } else { ws.suspend() }
        writeArmed = on
    }

    /// RFC 9112 §9.6: half-close, then read and discard for a moment before closing.
    private func linger() {
        state = .lingering
        Glibc.shutdown(fd, Int32(SHUT_WR))
        updateReadInterest()
        queue.asyncAfter(deadline: .now() + .seconds(2)) { [self] in
            if state == .lingering { close(reason: nil) }
        }
    }

    // MARK: Handlers

    /// The handler's inline answer to `request`, if it gives one (`HTTPHandler.respondInline`):
    /// computed here, on the queue, for the driver to send in this same turn.
    func answerInline(_ request: HTTPRequest) -> HTTPResponse? {
        guard let response = context.handler.respondInline(to: request) else { return nil }
        stats.update { $0.requestsAnsweredInline += 1 }
        return response
    }

    /// Runs the handler for `request` in its own Task; `token` comes back to the driver. At
    /// medium priority, on the default-QoS threads: a handler busy with the CPU never holds up
    /// the connection queues' user-initiated threads.
    func spawn(_ request: HTTPRequest, token: Int64) -> Task<Void, Never> {
        let handler = context.handler
        stats.update { $0.handlersRunning += 1 }
        return Task(priority: .medium) {
            let response = await handler.handle(request)
            // Completions that arrive together are handed over in one hop to the queue.
            let first = self.finished.withLock { box in
                box.append((token, response))
                return box.count == 1
            }
            if first { self.queue.async { self.takeFinished() } }
        }
    }

    private func takeFinished() {
        dispatchPrecondition(condition: .onQueue(queue))
        let done = finished.withLock { box in defer { box.removeAll(keepingCapacity: true) }; return box }
        stats.update { $0.handlersRunning -= done.count }
        guard state == .open, let d = driver else { return stats.commit() }
        lastActivity = Connection.now()
        for (token, response) in done { d.handlerFinished(token: token, response: response) }
        flush()
        // The client often answers a response with its next requests at once; reading now,
        // already awake, saves a round through the event loop when they are there.
        readAndProcess()
    }

    /// One access log line (method, path, status, bytes in/out, duration, protocol).
    func logAccess(method: String, path: String, status: Int, bytesIn: Int, bytesOut: Int,
                   startedAt: UInt64, version: HTTPVersion) {
        guard let log = context.accessLogger else { return }
        let ms = Double(Connection.now() - startedAt) / 1e6
        log.info("\(method) \(path) \(status) in=\(bytesIn) out=\(bytesOut) \(String(format: "%.2f", ms))ms \(version.rawValue) \(remoteAddress)")
    }

    // MARK: Timeouts and shutdown

    private func tick() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard state == .open else { return }
        let now = Connection.now()
        func over(_ since: UInt64, _ limit: Duration) -> Bool { now &- since > limit.nanoseconds }
        if !out.isEmpty && over(lastWriteProgress, config.writeTimeout) {
            return close(reason: "write_timeout")
        }
        guard let d = driver else {
            if over(acceptedAt, config.prefaceTimeout) { close(reason: "preface_timeout") }
            return
        }
        if !d.prefaceComplete && over(acceptedAt, config.prefaceTimeout) {
            return close(reason: "preface_timeout")
        }
        if let started = d.headerStartedAt, over(started, config.headerTimeout) {
            return endGracefully(d, reason: "header_timeout")
        }
        if !d.isBusy && out.isEmpty && over(lastActivity, config.idleTimeout) {
            return endGracefully(d, reason: "idle_timeout")
        }
        checkBodyRate(d, now: now)
    }

    /// The minimum request-body rate (`BodyRateMeter`), judged at each tick.
    private func checkBodyRate(_ d: ConnectionDriver, now: UInt64) {
        guard bodyRate.isEnabled else { return }
        func tooSlow() -> Bool {
            bodyRate.isTooSlow(now: now, bodyBytes: d.requestBodyBytes, receiving: d.isReceivingBody && !readSuspended)
        }
        guard tooSlow() else { return }
        // Bytes already waiting in the socket count: the client is judged, not our own delay.
        readAndProcess()
        guard state == .open, tooSlow() else { return }
        let rejected = d.rejectSlowBodies(message: bodyRate.violationMessage)
        stats.update { $0.requestBodiesTooSlow += rejected }
        flush()
    }

    private func endGracefully(_ d: ConnectionDriver, reason: String) {
        stats.closed(reason: reason)
        if d.endGracefully(reason: reason) { flush() } else { close(reason: nil) }
    }

    /// Server drain: stop taking requests on this connection; it closes once they are answered.
    func beginShutdown() {
        queue.async { [self] in
            guard state == .open, !shutdownRequested else { return }
            shutdownRequested = true
            guard readSource != nil else { return }  // setUp() will call again
            guard let d = driver else { return close(reason: nil) }
            d.beginShutdown()
            flush()
            queue.asyncAfter(deadline: .now() + config.shutdownNoticeDelay.dispatchInterval) { [self] in
                guard state == .open else { return }
                driver?.shutdownNoticeElapsed()
                flush()
            }
        }
    }

    /// Closes at once (drain deadline, or the server stopping), cancelling handlers.
    func forceClose(reason: String) {
        queue.async { [self] in close(reason: reason) }
    }

    func close(reason: String?) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard state != .closed else { return }
        state = .closed
        if let reason { stats.closed(reason: reason) }
        driver?.connectionClosed()
        stats.commit()
        timer?.cancel()
        if let ws = writeSource {
            if !writeArmed { ws.resume() }  // a suspended source must not be released
            ws.cancel()
        }
        if let rs = readSource {
            if readSuspended { rs.resume() }
            rs.cancel()
        }
        if readSource == nil && writeSource == nil { Glibc.close(fd) }
        context.connectionClosed(self)
    }
}
