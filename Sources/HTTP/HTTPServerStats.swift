import Foundation

/// Counters a metrics endpoint reads: a consistent snapshot taken under one lock.
public struct HTTPServerStats: Sendable {
    public var connectionsOpen = 0
    public var connectionsTotal = 0
    /// Accepted and closed at once because `maxConnections` were open.
    public var connectionsRejected = 0
    /// Connections closed by the layer, by reason ("flood", "preface_timeout",
    /// "header_timeout", "idle_timeout", "write_timeout", "protocol_error", "drain_deadline", ...).
    public var connectionsClosedByReason: [String: Int] = [:]
    public var http1Connections = 0
    public var http2Connections = 0
    /// HTTP/2 streams currently open / ever opened.
    public var streamsOpen = 0
    public var streamsTotal = 0
    public var resetsReceived = 0
    public var resetsSent = 0
    /// GOAWAY frames sent, by error code name ("no_error", "protocol_error", ...; RFC 9113 §7).
    public var goawaysSent: [String: Int] = [:]
    public var handlersRunning = 0
    /// Handler Tasks cancelled because their stream was reset or their connection closed.
    public var handlersCancelled = 0
    public var requestsTotal = 0
    /// Requests the handler answered inline, on the connection's queue (`respondInline`).
    public var requestsAnsweredInline = 0
    /// Requests answered 408 because their body arrived slower than the minimum rate.
    public var requestBodiesTooSlow = 0
    public var requestsByStatus: [Int: Int] = [:]
    /// Bytes read from and written to sockets (all protocol overhead included).
    public var bytesIn = 0
    public var bytesOut = 0
}

/// The live counters behind `HTTPServerStats`.
/// @unchecked Sendable: every field is read and written only while `lock` is held.
final class StatsRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stats = HTTPServerStats()

    func snapshot() -> HTTPServerStats {
        lock.lock(); defer { lock.unlock() }
        return stats
    }

    func update(_ body: (inout HTTPServerStats) -> Void) {
        lock.lock(); defer { lock.unlock() }
        body(&stats)
    }

    func merge(_ delta: HTTPServerStats) {
        lock.lock(); defer { lock.unlock() }
        stats.add(delta)
    }
}

/// One connection's changes to the counters, merged into the server's under one lock before
/// each socket write and at close (not once per event). Not Sendable: touched only on the
/// connection's queue.
final class StatsBuffer {
    private let target: StatsRecorder
    private var delta = HTTPServerStats()
    private var dirty = false

    init(_ target: StatsRecorder) { self.target = target }

    func update(_ body: (inout HTTPServerStats) -> Void) {
        body(&delta)
        dirty = true
    }
    func closed(reason: String) {
        update { $0.connectionsClosedByReason[reason, default: 0] += 1 }
    }
    func goawaySent(code: UInt32) {
        update { $0.goawaysSent[H2ErrorCode.name(code), default: 0] += 1 }
    }
    /// Responses of one status in a row are counted here and moved into `delta` when the status
    /// changes or at commit: a dictionary update per response showed in profiles.
    private var runStatus = 0
    private var runLength = 0

    func request(status: Int) {
        if status != runStatus {
            endRun()
            runStatus = status
        }
        runLength += 1
        dirty = true
    }
    private func endRun() {
        guard runLength > 0 else { return }
        delta.requestsTotal += runLength
        delta.requestsByStatus[runStatus, default: 0] += runLength
        runLength = 0
    }
    func commit() {
        guard dirty else { return }
        endRun()
        target.merge(delta)
        delta = HTTPServerStats()
        dirty = false
    }
}

extension HTTPServerStats {
    /// Adds every counter of `d` (gauges move by d's signed amount).
    mutating func add(_ d: HTTPServerStats) {
        connectionsOpen += d.connectionsOpen
        connectionsTotal += d.connectionsTotal
        connectionsRejected += d.connectionsRejected
        for (k, v) in d.connectionsClosedByReason { connectionsClosedByReason[k, default: 0] += v }
        http1Connections += d.http1Connections
        http2Connections += d.http2Connections
        streamsOpen += d.streamsOpen
        streamsTotal += d.streamsTotal
        resetsReceived += d.resetsReceived
        resetsSent += d.resetsSent
        for (k, v) in d.goawaysSent { goawaysSent[k, default: 0] += v }
        handlersRunning += d.handlersRunning
        handlersCancelled += d.handlersCancelled
        requestsTotal += d.requestsTotal
        requestsAnsweredInline += d.requestsAnsweredInline
        requestBodiesTooSlow += d.requestBodiesTooSlow
        for (k, v) in d.requestsByStatus { requestsByStatus[k, default: 0] += v }
        bytesIn += d.bytesIn
        bytesOut += d.bytesOut
    }
}

/// HTTP/2 error code names (RFC 9113 §7).
enum H2ErrorCode {
    static func name(_ code: UInt32) -> String {
        switch code {
        case 0x0: "no_error"
        case 0x1: "protocol_error"
        case 0x2: "internal_error"
        case 0x3: "flow_control_error"
        case 0x4: "settings_timeout"
        case 0x5: "stream_closed"
        case 0x6: "frame_size_error"
        case 0x7: "refused_stream"
        case 0x8: "cancel"
        case 0x9: "compression_error"
        case 0xa: "connect_error"
        case 0xb: "enhance_your_calm"
        case 0xc: "inadequate_security"
        case 0xd: "http_1_1_required"
        default: "unknown_\(code)"
        }
    }
}
