// Per-stream request state, and the frame scanner that enforces what nghttp2 lets pass.

/// One HTTP/2 stream's request and response. Not Sendable: owned by its H2Driver and touched
/// only on the connection's queue.
final class H2Stream {
    let id: Int32
    /// When its HEADERS frame was read (uptime ns).
    let startedAt: UInt64
    var method = ""
    var path = ""
    var authority = ""
    var headers = HTTPHeaders()
    var headerBytes = 0
    var headerCount = 0
    /// The header section went over the configured caps: answered 431 (RFC 6585 §5).
    var headersTooLarge = false
    /// The body went (or its content-length declared it would go) over the cap: answered 413.
    var bodyTooLarge = false
    var body: [UInt8] = []
    var bodyBytesReceived = 0
    /// Body bytes dropped after an early answer, and whether we then reset the stream.
    var discardedBytes = 0
    var resetSent = false
    /// The request's header section is complete (its body, if any, may follow).
    var headersComplete = false
    /// END_STREAM received from the client (RFC 9113 §5.1 half-closed (remote)).
    var requestComplete = false
    /// Reset (NO_ERROR) as soon as the response is sent: the rest of the body is not wanted.
    var resetAfterResponse = false
    /// Queued for a handler, or handed to one.
    var dispatched = false
    /// The request, built when it was first offered to the handler (inline answer declined)
    /// and kept while it waits for a running-handler slot.
    var request: HTTPRequest?
    var task: Task<Void, Never>?
    // Response
    var responded = false
    var status = 0
    var responseBody: [UInt8] = []
    var responseOffset = 0

    init(id: Int32, startedAt: UInt64) { self.id = id; self.startedAt = startedAt }

    /// Its body is arriving, unanswered (what the minimum body rate watches).
    var isReceivingBody: Bool { headersComplete && !requestComplete && !responded }
}

/// Watches the frame headers going into nghttp2 (RFC 9113 §4.1) for what nghttp2 1.52 ignores
/// instead of rejecting: a HEADERS frame that opens a stream with an id lower than one the client
/// already used (§5.1.1: a connection error of type PROTOCOL_ERROR). It only reads the bytes.
struct H2FrameScanner {
    private var prefaceLeft = ProtocolSniffer.preface.count
    private var header: [UInt8] = []
    private var payloadLeft = 0
    /// Highest stream id a HEADERS frame has used.
    private(set) var maxStreamID: Int32 = 0
    /// Stream ids recently opened, so trailers for a stream whose opening HEADERS is still in
    /// the same read are not mistaken for a stream going backwards. A small ring searched
    /// linearly, and only for the rare HEADERS below `maxStreamID`.
    private var recentIDs = [Int32](repeating: 0, count: H2FrameScanner.recentCapacity)
    private var recentNext = 0
    static let recentCapacity = 64

    struct FrameHeader: Equatable {
        var length: Int
        var type: UInt8
        var flags: UInt8
        var streamID: Int32

        /// RFC 9113 §4.1: length (24), type (8), flags (8), R (1) + stream id (31).
        init(_ h: [UInt8]) {
            length = Int(h[0]) << 16 | Int(h[1]) << 8 | Int(h[2])
            type = h[3]
            flags = h[4]
            streamID = Int32(bitPattern: (UInt32(h[5]) << 24 | UInt32(h[6]) << 16
                                          | UInt32(h[7]) << 8 | UInt32(h[8])) & 0x7fff_ffff)
        }
        init(length: Int, type: UInt8, flags: UInt8, streamID: Int32) {
            self.length = length; self.type = type; self.flags = flags; self.streamID = streamID
        }
    }

    /// Scans `bytes` and returns the offset of the first HEADERS frame that opens a stream
    /// below the highest id used (RFC 9113 §5.1.1), or nil. The offset is clamped to 0 when
    /// that frame's header began in an earlier read.
    mutating func firstBackwardsHeaders(in bytes: UnsafeRawBufferPointer,
                                        isKnownStream: (Int32) -> Bool) -> Int? {
        var i = 0
        let n = bytes.count
        if prefaceLeft > 0 {
            let skip = min(prefaceLeft, n)
            prefaceLeft -= skip
            i = skip
        }
        while i < n {
            if payloadLeft > 0 {
                let skip = min(payloadLeft, n - i)
                payloadLeft -= skip
                i += skip
                continue
            }
            let start = max(i - header.count, 0)
            let take = min(9 - header.count, n - i)
            header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + take)]))
            i += take
            guard header.count == 9 else { break }
            let fh = FrameHeader(header)
            header.removeAll(keepingCapacity: true)
            payloadLeft = fh.length
            // Only HEADERS opens streams; PRIORITY may name idle streams (§5.3.2 of RFC 7540).
            if fh.type == 0x1 && fh.streamID & 1 == 1 {
                if fh.streamID > maxStreamID {
                    maxStreamID = fh.streamID
                    recentIDs[recentNext] = fh.streamID
                    recentNext = (recentNext + 1) % H2FrameScanner.recentCapacity
                } else if !recentIDs.contains(fh.streamID) && !isKnownStream(fh.streamID) {
                    return start
                }
            }
        }
        return nil
    }
}
