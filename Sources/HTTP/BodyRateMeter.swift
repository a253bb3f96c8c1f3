/// The minimum request-body rate (against clients that dribble a body, "slow POST"): while a
/// request body is arriving, each window must bring at least `minBytesPerSecond` × window bytes.
/// Windows are back to back, the first starting when a body begins to arrive; time in which no
/// body is arriving, or the server is not reading, does not count. Pure: the connection feeds it
/// the time and a running total of body bytes.
struct BodyRateMeter {
    let minBytesPerSecond: Int
    let window: Duration
    private var windowStart: UInt64?
    private var bytesAtWindowStart = 0

    init(minBytesPerSecond: Int, window: Duration) {
        self.minBytesPerSecond = minBytesPerSecond
        self.window = window
    }

    var isEnabled: Bool { minBytesPerSecond > 0 && window > .zero }

    /// Whether the window now ending brought too few bytes. `bodyBytes` is the running total of
    /// body bytes received; `receiving` whether a body is arriving and the server is reading.
    /// Asking again before the window has moved on gives the same verdict for the same total.
    mutating func isTooSlow(now: UInt64, bodyBytes: Int, receiving: Bool) -> Bool {
        guard isEnabled, receiving else {
            windowStart = nil
            return false
        }
        guard let start = windowStart else {
            windowStart = now
            bytesAtWindowStart = bodyBytes
            return false
        }
        let windowNanoseconds = window.nanoseconds
        guard now &- start >= windowNanoseconds else { return false }
        let required = Double(minBytesPerSecond) * window.seconds
        if Double(bodyBytes - bytesAtWindowStart) < required { return true }
        windowStart = now
        bytesAtWindowStart = bodyBytes
        return false
    }

    /// The 408 message: what was too slow, against which limit.
    var violationMessage: String {
        let s = window.seconds
        let seconds = s == s.rounded() ? String(Int(s)) : String(s)
        return "request body arrived slower than \(minBytesPerSecond) bytes/s over \(seconds) s"
    }
}
