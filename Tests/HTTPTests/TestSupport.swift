import Foundation
import Logging
import Testing
@testable import HTTP

/// Every test that starts a server runs inside this suite, one at a time: they measure
/// timeouts and concurrency, and this machine may have two cores.
@Suite(.serialized) struct HTTPIntegrationTests {}

/// Counters the test handler keeps, read by tests waiting for a condition.
final class HandlerProbe: @unchecked Sendable {
    // @unchecked Sendable: every field is guarded by `lock`.
    private let lock = NSLock()
    private var _cancelled = 0
    private var _started = 0
    private var _running = 0
    private var _maxRunning = 0
    private var _inline = 0
    private var _inlineInTask = 0
    var cancelled: Int { lock.lock(); defer { lock.unlock() }; return _cancelled }
    var started: Int { lock.lock(); defer { lock.unlock() }; return _started }
    var maxRunning: Int { lock.lock(); defer { lock.unlock() }; return _maxRunning }
    func didStart() {
        lock.lock(); _started += 1; _running += 1; _maxRunning = max(_maxRunning, _running); lock.unlock()
    }
    func didFinish() { lock.lock(); _running -= 1; lock.unlock() }
    func didCancel() { lock.lock(); _cancelled += 1; lock.unlock() }
    /// Inline answers given, and how many of them ran inside a Task (none should).
    var inline: Int { lock.lock(); defer { lock.unlock() }; return _inline }
    var inlineInTask: Int { lock.lock(); defer { lock.unlock() }; return _inlineInTask }
    func didAnswerInline(inTask: Bool) {
        lock.lock(); _inline += 1; if inTask { _inlineInTask += 1 }; lock.unlock()
    }
}

/// Routes used by the tests:
///   GET  /hello             "hello"
///   POST /echo              the request body; x-body-bytes and x-method headers
///   GET  /bytes?n=N         N bytes of a fixed pattern (byte i = i % 251)
///   GET  /slow?ms=N         "slow" after N ms (Task.sleep, so cancellable)
///   GET  /hang              waits until cancelled (records the cancellation), then 500
///   GET  /headers           the request headers as "name: value" lines
///   GET  /inline            "inline", answered inline (`respondInline`, on the connection's queue)
struct TestHandler: HTTPHandler {
    let probe: HandlerProbe

    func respondInline(to request: HTTPRequest) -> HTTPResponse? {
        guard request.path == "/inline" else { return nil }
        probe.didAnswerInline(inTask: withUnsafeCurrentTask { $0 != nil })
        return .text("inline")
    }

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        probe.didStart()
        defer { probe.didFinish() }
        switch request.path {
        case "/hello":
            return .text("hello")
        case "/echo":
            var r = HTTPResponse(status: 200, contentType: "application/octet-stream", body: request.body)
            r.headers.add("x-body-bytes", String(request.body.count))
            r.headers.add("x-method", request.method)
            return r
        case "/bytes":
            let n = Int(queryValue(request.query, "n") ?? "0") ?? 0
            return HTTPResponse(status: 200, contentType: "application/octet-stream", body: TestHandler.pattern(n))
        case "/slow":
            let ms = Int(queryValue(request.query, "ms") ?? "100") ?? 100
            do {
                try await Task.sleep(for: .milliseconds(ms))
            } catch {
                probe.didCancel()
                return .error(status: 503, "cancelled", type: "cancelled")
            }
            return .text("slow")
        case "/hang":
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(5))
            }
            probe.didCancel()
            return .error(status: 500, "cancelled", type: "cancelled")
        case "/headers":
            let lines = request.headers.map { "\($0.name): \($0.value)\n" }.joined()
            return .text(lines + "version: \(request.version.rawValue)\n")
        default:
            return .error(status: 404, "no route \(request.path)", type: "not_found")
        }
    }

    /// n bytes, byte i = i % 251 (built by doubling: debug builds are slow at per-byte loops).
    static func pattern(_ n: Int) -> [UInt8] {
        var out = (0..<min(n, 251)).map { UInt8($0) }
        out.reserveCapacity(n)
        while out.count < n { out.append(contentsOf: out[0..<min(out.count, n - out.count)]) }
        return out
    }

    private func queryValue(_ query: String, _ key: String) -> String? {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2 && kv[0] == key { return String(kv[1]) }
        }
        return nil
    }
}

/// A server on 127.0.0.1, port 0, with the test handler.
struct TestServer {
    let server: HTTPServer
    let probe: HandlerProbe
    var port: Int { server.boundPort }
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws {
        var config = HTTPServerConfiguration()
        configure(&config)
        probe = HandlerProbe()
        var log = Logger(label: "vqtok.http.test")
        log.logLevel = .warning
        server = HTTPServer(configuration: config, handler: TestHandler(probe: probe), logger: log)
        try server.start(host: "127.0.0.1", port: 0)
    }

    func stop() async { await server.stop() }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func waitFor(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !condition() {
        if clock.now > deadline {
            Issue.record("timed out waiting for \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Paths of the package root and of the Python with httpx.
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// VQTOK_PYTHON, else the project's .venv, else python3 on PATH.
    static var python: String {
        if let p = ProcessInfo.processInfo.environment["VQTOK_PYTHON"], !p.isEmpty { return p }
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        if FileManager.default.isExecutableFile(atPath: venv) { return venv }
        return "python3"
    }

    static func tempFile(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-http-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }
}

/// Runs blocking socket work on a Dispatch thread, off the Swift concurrency pool (which the
/// server's handlers need; this machine may have only two pool threads).
@discardableResult
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { k in
        DispatchQueue.global().async { k.resume(with: Result { try body() }) }
    }
}

/// curl over HTTP/2 (prior knowledge) or HTTP/1.1; returns "status|body".
func curl(_ url: String, http2: Bool, _ extra: [String] = []) async throws -> String {
    let r = try await run("curl", ["-sS", "--max-time", "10", http2 ? "--http2-prior-knowledge" : "--http1.1"]
                          + extra + ["-w", "|%{http_code}", url])
    let parts = r.stdoutText.split(separator: "|", omittingEmptySubsequences: false)
    return "\(parts.last ?? "")|\(parts.dropLast().joined(separator: "|"))"
}

/// The server still answers a normal client on both protocols.
func expectServing(_ s: TestServer, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    #expect(try await curl("\(s.base)/hello", http2: true) == "200|hello", sourceLocation: sourceLocation)
    #expect(try await curl("\(s.base)/hello", http2: false) == "200|hello", sourceLocation: sourceLocation)
}

/// A swift-log handler that keeps the messages it is given.
struct CapturingLogHandler: LogHandler {
    /// @unchecked Sendable: `lines` is guarded by `lock`.
    final class Store: @unchecked Sendable {
        private let lock = NSLock()
        private var _lines: [String] = []
        var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }
        func append(_ s: String) { lock.lock(); _lines.append(s); lock.unlock() }
    }
    let store: Store
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        store.append(event.message.description)
    }
}

/// This process's resident memory in bytes (/proc/self/statm), for "memory stays bounded".
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}
