import Synchronization
import Tensor

/// Scratch of one forward pass: the activation `x` and the buffers every block works in. Within
/// a pass the buffers are reused from layer to layer; between calls a `WorkspacePool` keeps
/// them, so a call does not allocate (and page-fault in) its activations again.
struct Workspace: Sendable {
    var x = Tensor(zeros: [0])
    var a = Tensor(zeros: [0])
    var b = Tensor(zeros: [0])
    var q = Tensor(zeros: [0])
    var k = Tensor(zeros: [0])
    var v = Tensor(zeros: [0])
    var columns: [Float] = []
    var scores: [Float] = []

    /// Floats held (capacity, not count).
    var capacity: Int {
        [x, a, b, q, k, v].reduce(columns.capacity + scores.capacity) { $0 + $1.storage.capacity }
    }
}

/// Idle workspaces, handed to one call at a time. At most `limit` are kept, each of at most
/// `maximumFloats`; one that grew past that (a larger image than usual) is dropped when returned.
final class WorkspacePool: Sendable {
    private let idle = Mutex<[Workspace]>([])
    let limit: Int
    let maximumFloats: Int

    init(limit: Int, maximumFloats: Int) {
        self.limit = limit
        self.maximumFloats = maximumFloats
    }

    /// Runs `body` with a workspace of the pool (a new one when none is idle), then returns it.
    func with<R>(_ body: (inout Workspace) throws -> R) rethrows -> R {
        var ws = idle.withLock { $0.popLast() } ?? Workspace()
        defer {
            if ws.capacity <= maximumFloats {
                idle.withLock { if $0.count < limit { $0.append(ws) } }
            }
        }
        return try body(&ws)
    }

    /// Idle workspaces now (tests).
    var idleCount: Int { idle.withLock { $0.count } }
}
