import Dispatch
import Foundation

/// A raw pointer that may cross into `concurrentPerform` workers.
///
/// @unchecked Sendable: kernels hand each worker a disjoint slice of the buffer, and the
/// buffer outlives `concurrentPerform`, which returns only after every worker is done.
@usableFromInline
struct SharedPointer<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Element>
    @usableFromInline init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}

/// Read-only counterpart of `SharedPointer`; workers only read through it.
@usableFromInline
struct SharedConstPointer<Element>: @unchecked Sendable {
    @usableFromInline let base: UnsafePointer<Element>
    @usableFromInline init(_ base: UnsafePointer<Element>) { self.base = base }
}

enum Parallel {
    /// Cores this process may use; the machines here have two.
    static let coreCount = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs `body(i)` for i in 0..<count, spread over the cores when `work` (roughly the
    /// number of elements touched) is large enough to pay for the hand-off.
    static func forEach(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
        if count <= 1 || coreCount == 1 || work < 1 << 15 {
            for i in 0..<count { body(i) }
        } else {
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }

    /// Splits 0..<total into at most `coreCount` contiguous chunks and runs them in parallel.
    static func forChunks(_ total: Int, minimumChunk: Int = 1 << 14,
                          _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = max(1, min(coreCount, total / max(1, minimumChunk)))
        if chunks == 1 { body(0..<total); return }
        let size = (total + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lower = i * size
            let upper = min(total, lower + size)
            if lower < upper { body(lower..<upper) }
        }
    }
}
