// The HTTP module: one port, HTTP/2 (prior knowledge) and HTTP/1.1, on Dispatch and nghttp2.
//
// Code map:
//   HTTPServer, ServerContext   start/stop/drain, the connection registry, signals
//   Listener                    the listening socket and accept
//   Connection                  one socket: serial queue, read/write sources, timer, output
//                               buffer, protocol sniffing, handler Tasks and inline answers
//   H1Driver + H1Parser         HTTP/1.1: byte-by-byte request parser, keep-alive, pipelining
//   H2Driver + H2Callbacks      HTTP/2: nghttp2 session via mem_recv/mem_send, C trampolines
//   H2Stream, H2FrameScanner    per-stream state; the stream-id check nghttp2 leaves to us
//   BodyRateMeter               the minimum request-body rate (408 for dribbled bodies)
//   HTTPServerStats             counters for the metrics endpoint
//
// Architecture invariants:
//   - Nothing here knows what a tokenizer is.
//   - All of a connection's state (its driver, nghttp2 session, streams, buffers) is touched only
//     on that connection's queue; handlers run in their own Tasks, never on it, except the
//     answers a handler gives inline (`HTTPHandler.respondInline`, synchronous and cheap).
//   - nghttp2 is never entered from inside one of its callbacks.
//   - Every buffer is bounded: request bodies and headers by the configuration, output by
//     `maxOutputBufferBytes` (then reading stops), pipelined input by the header budget.

import Dispatch
import Foundation
import Glibc
import Logging

public struct HTTPServerError: Error, CustomStringConvertible {
    public var description: String
}

/// One listening port speaking HTTP/2 (prior knowledge, RFC 9113 §3.3) and HTTP/1.1, told
/// apart by the first bytes of each connection.
///
///     let server = HTTPServer(handler: HTTPHandlerFunction { req in .text("hi") })
///     try server.start(host: "::", port: 8080)
///     _ = server.installSignalDrain(deadline: .seconds(20)) { _ in exit(0) }
public final class HTTPServer: Sendable {
    let context: ServerContext
    private let listeners = Locked<[Listener]>([])

    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                handler: any HTTPHandler,
                logger: Logger = Logger(label: "vqtok.http"),
                accessLogger: Logger? = nil) {
        context = ServerContext(configuration: configuration, handler: handler,
                                logger: logger, accessLogger: accessLogger)
    }

    /// Binds and listens. `host` is an address or name ("::" listens on IPv6 and IPv4 where the
    /// system allows; "0.0.0.0" IPv4 only; "127.0.0.1"/"::1" loopback). Port 0 picks a free
    /// port: read it from `boundPort`. May be called more than once (one port per call).
    public func start(host: String = "::", port: Int) throws {
        let listener = try Listener(host: host, port: port, context: context)
        listeners.withLock { $0.append(listener) }
        listener.resume()
    }

    /// The port of the first listener (useful with port 0).
    public var boundPort: Int { listeners.withLock { $0.first?.port ?? 0 } }
    /// The ports of every listener, in the order `start` was called.
    public var boundPorts: [Int] { listeners.withLock { $0.map(\.port) } }

    public func stats() -> HTTPServerStats { context.stats.snapshot() }

    /// Stops accepting and asks every connection to finish: HTTP/2 gets a shutdown notice,
    /// then the final GOAWAY; HTTP/1.1 answers its request in flight with `connection: close`.
    public func beginShutdown() {
        context.draining.withLock { $0 = true }
        let ls = listeners.withLock { l in defer { l.removeAll() }; return l }
        for l in ls { l.cancel() }
        for c in context.allConnections() { c.beginShutdown() }
    }

    /// `beginShutdown()`, then waits until every connection has closed or `deadline` passes;
    /// at the deadline the rest are closed (their handlers cancelled). True when all finished.
    public func drain(deadline: Duration) async -> Bool {
        beginShutdown()
        if await context.waitUntilNoConnections(timeout: deadline) { return true }
        for c in context.allConnections() { c.forceClose(reason: "drain_deadline") }
        _ = await context.waitUntilNoConnections(timeout: .seconds(2))
        return false
    }

    /// Closes the listeners and every connection at once.
    public func stop() async {
        context.draining.withLock { $0 = true }
        let ls = listeners.withLock { l in defer { l.removeAll() }; return l }
        for l in ls { l.cancel() }
        for c in context.allConnections() { c.forceClose(reason: "server_stopped") }
        _ = await context.waitUntilNoConnections(timeout: .seconds(5))
    }

    /// On the first of `signals`: `onSignal` (e.g. flip readiness), then `drain(deadline:)`,
    /// then `onDrained(clean)`; the application exits there (exit code is its choice).
    /// The signals' default actions are disabled while the returned handle lives.
    public func installSignalDrain(signals: [Int32] = [SIGTERM, SIGINT], deadline: Duration,
                                   onSignal: @escaping @Sendable (Int32) -> Void = { _ in },
                                   onDrained: @escaping @Sendable (Bool) -> Void) -> HTTPSignalDrain {
        HTTPSignalDrain(server: self, signals: signals, deadline: deadline, onSignal: onSignal, onDrained: onDrained)
    }
}

/// Keeps the signal sources of `HTTPServer.installSignalDrain` alive.
/// @unchecked Sendable: `sources` is written once in init and only read afterwards;
/// `fired` is guarded by its lock.
public final class HTTPSignalDrain: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let fired = Locked(false)

    init(server: HTTPServer, signals: [Int32], deadline: Duration,
         onSignal: @escaping @Sendable (Int32) -> Void, onDrained: @escaping @Sendable (Bool) -> Void) {
        for sig in signals {
            Glibc.signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [fired] in
                let first = fired.withLock { f in defer { f = true }; return !f }
                guard first else { return }
                onSignal(sig)
                Task {
                    let clean = await server.drain(deadline: deadline)
                    onDrained(clean)
                }
            }
            src.resume()
            sources.append(src)
        }
    }

    deinit { for s in sources { s.cancel() } }
}

/// A value behind a lock. @unchecked Sendable: `value` is only touched while `lock` is held.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock(); defer { lock.unlock() }
        return body(&value)
    }
}

/// What every connection of one server shares.
/// @unchecked Sendable: the `let`s are immutable and Sendable; `connections` and `waiters` are
/// only touched while `lock` is held.
final class ServerContext: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    let stats = StatsRecorder()
    let logger: Logger
    let accessLogger: Logger?
    let draining = Locked(false)
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    private var nextWaiter = 0

    init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger, accessLogger: Logger?) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.accessLogger = accessLogger
    }

    /// Registers an accepted connection; false when `maxConnections` are open.
    func add(_ c: Connection) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard connections.count < configuration.maxConnections else { return false }
        connections[ObjectIdentifier(c)] = c
        return true
    }

    func connectionClosed(_ c: Connection) {
        lock.lock()
        connections.removeValue(forKey: ObjectIdentifier(c))
        var ready: [CheckedContinuation<Bool, Never>] = []
        if connections.isEmpty {
            ready = Array(waiters.values)
            waiters.removeAll()
        }
        lock.unlock()
        stats.update { $0.connectionsOpen -= 1 }
        for w in ready { w.resume(returning: true) }
    }

    func allConnections() -> [Connection] {
        lock.lock(); defer { lock.unlock() }
        return Array(connections.values)
    }

    /// True once no connection is open; false if `timeout` passes first.
    func waitUntilNoConnections(timeout: Duration) async -> Bool {
        await withCheckedContinuation { (k: CheckedContinuation<Bool, Never>) in
            lock.lock()
            if connections.isEmpty {
                lock.unlock()
                return k.resume(returning: true)
            }
            let id = nextWaiter
            nextWaiter += 1
            waiters[id] = k
            lock.unlock()
            DispatchQueue.global().asyncAfter(deadline: DispatchTime.now() + timeout.dispatchInterval) { [self] in
                lock.lock()
                let w = waiters.removeValue(forKey: id)
                lock.unlock()
                w?.resume(returning: false)
            }
        }
    }
}
