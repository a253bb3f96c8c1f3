// Limits and timeouts. Each has a default; the command line exposes each as a flag.

public struct HTTPServerConfiguration: Sendable {
    // MARK: Request limits

    /// Largest request body accepted; larger bodies are answered 413 (RFC 9110 §15.5.14).
    public var maxRequestBodyBytes: Int = 64 << 20
    /// Largest header section, counted as name + value + 32 per field (RFC 7541 §4.1, the
    /// accounting of SETTINGS_MAX_HEADER_LIST_SIZE, RFC 9113 §6.5.2); over it: 431 (RFC 6585 §5).
    public var maxHeaderBytes: Int = 16 << 10
    /// Most header fields in one request; over it: 431.
    public var maxHeaderCount: Int = 100

    // MARK: Concurrency limits

    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise (RFC 9113 §6.5.2).
    public var maxConcurrentStreams: Int = 100
    /// Handlers running at once for one connection; further complete requests wait in a
    /// per-connection FIFO bounded by `maxConcurrentStreams`. Handlers of reset streams keep
    /// counting until they return, which is what bounds the work a Rapid Reset can start.
    public var maxRunningHandlersPerConnection: Int = 32
    /// Open connections; further ones are accepted and closed at once.
    public var maxConnections: Int = 1024

    // MARK: Flow control and buffering

    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise, per stream (RFC 9113 §6.9.2).
    public var initialStreamWindowBytes: Int = 1 << 20
    /// Our connection-level receive window (RFC 9113 §6.9.1).
    public var connectionWindowBytes: Int = 16 << 20
    /// Output buffered per connection before the layer stops producing frames and stops reading
    /// (a slow reader is not buffered without limit).
    public var maxOutputBufferBytes: Int = 1 << 20

    // MARK: nghttp2 abuse guards (nghttp2_option_*)

    /// RST_STREAM frames received: token bucket (burst, refill per second); over it, GOAWAY.
    /// (CVE-2023-44487, Rapid Reset; Debian's 1.52.0-1+deb12u1 backport.)
    public var streamResetBurst: Int = 1000
    public var streamResetRatePerSecond: Int = 33
    /// CONTINUATION frames per header block (CVE-2024-28182; deb12u2 backport).
    public var maxContinuations: Int = 8
    /// Entries in one SETTINGS frame (CVE-2020-11080).
    public var maxSettingsEntries: Int = 32
    /// Queued outbound SETTINGS/PING ACKs before nghttp2 reports a flood (CVE-2019-9512/9515).
    public var maxOutboundAcks: Int = 1000

    // MARK: Timeouts

    /// From accept to the first complete HTTP/2 preface + SETTINGS, or to the first byte of an
    /// HTTP/1.1 request.
    public var prefaceTimeout: Duration = .seconds(10)
    /// From the first byte of a request's header section to its end (slowloris).
    public var headerTimeout: Duration = .seconds(30)
    /// A connection with no request in flight and nothing to write is closed after this.
    public var idleTimeout: Duration = .seconds(120)
    /// Slowest request body accepted: while a body is arriving, each `requestBodyRateWindow` must
    /// bring at least this many bytes per second of it (0: no minimum). Slower: 408 (RFC 9110
    /// §15.5.9) and, on HTTP/1.1, close; on HTTP/2 the stream is reset after the 408. Counted per
    /// connection (an HTTP/2 connection's streams together); time in which the server is not
    /// reading (output back-pressure) does not count.
    public var minRequestBodyBytesPerSecond: Int = 1024
    /// The window the body rate is averaged over.
    public var requestBodyRateWindow: Duration = .seconds(10)
    /// Output pending and no byte written for this long: the connection is closed.
    public var writeTimeout: Duration = .seconds(30)
    /// Between the HTTP/2 shutdown notice and the final GOAWAY (RFC 9113 §6.8).
    public var shutdownNoticeDelay: Duration = .milliseconds(500)

    public init() {}
}

import Dispatch

extension Duration {
    var dispatchInterval: DispatchTimeInterval { .nanoseconds(Int(min(nanoseconds, UInt64(Int.max)))) }
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
    var nanoseconds: UInt64 {
        let (s, atto) = components
        return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }
}
