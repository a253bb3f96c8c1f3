import CNGHTTP2
import Glibc

/// nghttp2's C callbacks as non-capturing trampolines. The session's user data is the H2Driver,
/// unretained: the driver owns the session and deletes it in deinit, so it outlives every call.
/// Callbacks run inside mem_recv/mem_send on the connection's queue; they only record state and
/// submit frames, never call mem_recv/mem_send (nghttp2 programmers' guide, "Remarks").
enum H2Callbacks {
    static func driver(_ userData: UnsafeMutableRawPointer?) -> H2Driver {
        Unmanaged<H2Driver>.fromOpaque(userData!).takeUnretainedValue()
    }

    static func makeSession(config: HTTPServerConfiguration, userData: UnsafeMutableRawPointer) -> OpaquePointer {
        var cbs: OpaquePointer?
        nghttp2_session_callbacks_new(&cbs)
        defer { nghttp2_session_callbacks_del(cbs) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(cbs, onHeader)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunk)
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecv)
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, onFrameSend)
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamClose)

        var opt: OpaquePointer?
        nghttp2_option_new(&opt)
        defer { nghttp2_option_del(opt) }
        nghttp2_option_set_max_settings(opt, config.maxSettingsEntries)
        nghttp2_option_set_max_outbound_ack(opt, config.maxOutboundAcks)
        nghttp2_option_set_stream_reset_rate_limit(opt, UInt64(config.streamResetBurst),
                                                   UInt64(config.streamResetRatePerSecond))
        nghttp2_option_set_max_continuations(opt, config.maxContinuations)

        var session: OpaquePointer?
        let rv = nghttp2_session_server_new2(&session, cbs, userData, opt)
        precondition(rv == 0 && session != nil, "nghttp2_session_server_new2 failed: \(rv)")
        return session!
    }

    // MARK: Receiving

    static let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
        let d = driver(userData)
        let f = frame!.pointee
        let now = d.connection.lastReadAt
        d.headerStartedAt = now
        guard f.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
              f.headers.cat == NGHTTP2_HCAT_REQUEST else { return 0 }
        d.open(H2Stream(id: f.hd.stream_id, startedAt: now))
        return 0
    }

    static let onHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, userData in
        let d = driver(userData)
        guard let s = d.stream(frame!.pointee.hd.stream_id) else { return 0 }
        // The header-list budget nghttp2 advertises but does not enforce (RFC 9113 §6.5.2;
        // counted as RFC 7541 §4.1 does). This is what bounds an HPACK bomb (CVE-2016-1544).
        s.headerBytes += namelen + valuelen + 32
        s.headerCount += 1
        let cfg = d.config
        if s.headerBytes > cfg.maxHeaderBytes || s.headerCount > cfg.maxHeaderCount {
            if !s.headersTooLarge { s.headersTooLarge = true; s.headers = HTTPHeaders() }
            // Far over the cap: not a client with big cookies. End the connection.
            if s.headerBytes > 8 * cfg.maxHeaderBytes || s.headerCount > 8 * cfg.maxHeaderCount {
                nghttp2_session_terminate_session(d.session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
                d.stats.closed(reason: "header_bomb")
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
            }
            return 0
        }
        if s.headersTooLarge { return 0 }
        if s.requestComplete || frame!.pointee.headers.cat != NGHTTP2_HCAT_REQUEST {
            return 0  // trailers are dropped (RFC 9110 §6.5.1)
        }
        let nameBytes = UnsafeBufferPointer(start: name, count: namelen)
        let v = String(decoding: UnsafeBufferPointer(start: value, count: valuelen), as: UTF8.self)
        // nghttp2 has already validated names (lowercase, pseudo-headers first; RFC 9113 §8.3).
        if nameBytes.first == UInt8(ascii: ":") {
            switch PseudoHeader(nameBytes) {
            case .method: s.method = v
            case .path: s.path = v
            case .authority: s.authority = v
            case .other: break
            }
            return 0
        }
        let n = String(decoding: nameBytes, as: UTF8.self)
        if n == "content-length", let len = Int(v), len > cfg.maxRequestBodyBytes {
            s.bodyTooLarge = true
        }
        s.headers.appendLowercased(n, v)
        return 0
    }

    enum PseudoHeader {
        case method, path, authority, other
        init(_ b: UnsafeBufferPointer<UInt8>) {
            func equals(_ s: StaticString) -> Bool {
                b.count == s.utf8CodeUnitCount && memcmp(b.baseAddress!, s.utf8Start, b.count) == 0
            }
            if equals(":method") { self = .method }
            else if equals(":path") { self = .path }
            else if equals(":authority") { self = .authority }
            else { self = .other }
        }
    }

    static let onDataChunk: nghttp2_on_data_chunk_recv_callback = { session, _, streamID, data, len, userData in
        let d = driver(userData)
        d.requestBodyBytes += len
        guard let s = d.stream(streamID) else { return 0 }
        s.bodyBytesReceived += len
        if s.responded || s.bodyTooLarge {
            // Answered before the request ended (e.g. 413). RFC 9113 §8.1 lets us stop the
            // upload with RST_STREAM(NO_ERROR) after the response, but some clients (curl 7.88)
            // then report an error instead of the response: discard a bounded amount first.
            s.discardedBytes += len
            if s.discardedBytes > max(d.config.maxRequestBodyBytes, 16 << 20) && !s.resetSent {
                s.resetSent = true
                nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_NO_ERROR.rawValue)
            }
            return 0
        }
        if s.body.count + len > d.config.maxRequestBodyBytes {
            s.bodyTooLarge = true
            d.reject(s, status: 413, type: "body_too_large", message: "request body too large")
            return 0
        }
        s.body.append(contentsOf: UnsafeBufferPointer(start: data, count: len))
        return 0
    }

    static let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
        let d = driver(userData)
        let hd = frame!.pointee.hd
        let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(hd.type) {
        case NGHTTP2_SETTINGS.rawValue:
            if hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { d.prefaceComplete = true }
        case NGHTTP2_HEADERS.rawValue:
            d.headerStartedAt = nil
            // The stream may be gone already (libevent-server.c): look it up.
            guard let s = d.stream(hd.stream_id) else { return 0 }
            s.headersComplete = true
            if s.headersTooLarge {
                d.reject(s, status: 431, type: "headers_too_large", message: "request header fields too large")
            } else if s.bodyTooLarge {
                d.reject(s, status: 413, type: "body_too_large", message: "request body too large")
            }
            if endStream { d.requestComplete(s) }
        case NGHTTP2_DATA.rawValue:
            if endStream, let s = d.stream(hd.stream_id) { d.requestComplete(s) }
        case NGHTTP2_RST_STREAM.rawValue:
            d.stats.update { $0.resetsReceived += 1 }
        default:
            break
        }
        return 0
    }

    static let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
        driver(userData).streamClosed(streamID, errorCode: errorCode)
        return 0
    }

    // MARK: Sending

    static let onFrameSend: nghttp2_on_frame_send_callback = { _, frame, userData in
        let d = driver(userData)
        let f = frame!.pointee
        switch UInt32(f.hd.type) {
        case NGHTTP2_GOAWAY.rawValue:
            d.stats.goawaySent(code: f.goaway.error_code)
        case NGHTTP2_RST_STREAM.rawValue:
            d.stats.update { $0.resetsSent += 1 }
        case NGHTTP2_DATA.rawValue, NGHTTP2_HEADERS.rawValue:
            if d.resetsAfterResponse > 0 && f.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
               let s = d.stream(f.hd.stream_id) {
                d.responseSent(s)
            }
        default:
            break
        }
        return 0
    }

    /// The data provider: copies the next slice of the in-memory response body.
    static let readBody: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, userData in
        let d = driver(userData)
        guard let s = d.stream(streamID) else {
            return ssize_t(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let n = min(length, s.responseBody.count - s.responseOffset)
        if n > 0 {
            s.responseBody.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(buf!).copyMemory(from: raw.baseAddress! + s.responseOffset, byteCount: n)
            }
            s.responseOffset += n
        }
        if s.responseOffset == s.responseBody.count {
            flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            s.responseBody = []
        }
        return n
    }
}

/// A response header block as nghttp2_nv entries, its buffers reused from one response to the
/// next (nghttp2_submit_response copies the block, so it only needs to live during the call).
struct H2HeaderBlock {
    private var bytes: [UInt8] = []
    private var spans: [(name: Int, nameLength: Int, value: Int, valueLength: Int)] = []
    private var nva: [nghttp2_nv] = []

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
    }

    mutating func add(_ name: String, _ value: String) {
        let n = bytes.count
        bytes.append(contentsOf: name.utf8)
        let v = bytes.count
        bytes.append(contentsOf: value.utf8)
        spans.append((n, v - n, v, bytes.count - v))
    }

    /// A field whose value is a non-negative integer, its decimal digits written straight into
    /// the block (no String per response for the status and the content length).
    mutating func add(_ name: String, decimal value: Int) {
        precondition(value >= 0, "header value \(value) is negative")
        let n = bytes.count
        bytes.append(contentsOf: name.utf8)
        let v = bytes.count
        var rest = value
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        var (low, high) = (v, bytes.count - 1)  // reversed in place (a slice's reverse() copied it)
        while low < high { bytes.swapAt(low, high); low += 1; high -= 1 }
        spans.append((n, v - n, v, bytes.count - v))
    }

    mutating func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        if bytes.isEmpty { bytes.append(0) }
        nva.removeAll(keepingCapacity: true)
        return bytes.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            for s in spans {
                nva.append(nghttp2_nv(name: base + s.name, value: base + s.value, namelen: s.nameLength,
                                      valuelen: s.valueLength, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
