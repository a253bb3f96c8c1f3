import Dispatch
import Glibc

/// A listening socket and the read source that accepts on it.
/// @unchecked Sendable: `fd`, `port`, `source` and `queue` are set in init and never change;
/// `paused` and the source's state are touched only on `queue`.
final class Listener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let queue = DispatchQueue(label: "vqtok.http.accept")
    private let source: DispatchSourceRead
    private let context: ServerContext
    private var paused = false
    private var cancelled = false

    init(host: String, port: Int, context: ServerContext) throws {
        self.context = context
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw HTTPServerError(description: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let ai = first.pointee
        let fd = socket(ai.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Listener.error("socket") }
        var one: Int32 = 1
        var zero: Int32 = 0
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if ai.ai_family == AF_INET6 {
            // "::" serves IPv4 too (mapped addresses) unless the system forbids it.
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
        }
        guard bind(fd, ai.ai_addr, ai.ai_addrlen) == 0 else {
            let e = Listener.error("bind \(host):\(port)"); Glibc.close(fd); throw e
        }
        guard listen(fd, 1024) == 0 else {
            let e = Listener.error("listen"); Glibc.close(fd); throw e
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &len) }
        }
        self.fd = fd
        self.port = Listener.describe(addr).port
        self.source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [self] in acceptAll() }
        source.setCancelHandler { Glibc.close(fd) }
    }

    func resume() { source.resume() }

    func cancel() {
        queue.async { [self] in
            guard !cancelled else { return }
            cancelled = true
            if paused { source.resume() }  // a suspended source must not be released
            source.cancel()
        }
    }

    /// Out of descriptors: the listening socket stays readable, so stop watching it for a
    /// moment instead of spinning (the pending connections wait in the backlog).
    private func pause() {
        guard !paused, !cancelled else { return }
        paused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + .milliseconds(100)) { [self] in
            guard paused else { return }
            paused = false
            source.resume()
        }
    }

    private func acceptAll() {
        while true {
            var addr = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let cfd = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(fd, $0, &len)
                }
            }
            if cfd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    context.logger.warning("accept: out of file descriptors; pausing 100 ms")
                    pause()
                }
                return
            }
            _ = fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(cfd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(cfd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let (host, port) = Listener.describe(addr)
            let remote = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            let connection = Connection(fd: cfd, remoteAddress: remote, context: context)
            let draining = context.draining.withLock { $0 }
            guard !draining, context.add(connection) else {
                context.stats.update { $0.connectionsRejected += 1 }
                Glibc.close(cfd)
                continue
            }
            context.stats.update { $0.connectionsOpen += 1; $0.connectionsTotal += 1 }
            connection.start()
        }
    }

    static func describe(_ storage: sockaddr_storage) -> (host: String, port: Int) {
        var s = storage
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(s.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                    var a = p.pointee.sin_addr
                    inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
                    return (buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: p.pointee.sin_port)))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &s) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                    var a = p.pointee.sin6_addr
                    inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
                    return (buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: p.pointee.sin6_port)))
                }
            }
        default:
            return ("?", 0)
        }
    }

    static func error(_ what: String) -> HTTPServerError {
        HTTPServerError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
