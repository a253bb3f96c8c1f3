import Dispatch
import Foundation
import Synchronization

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

/// How many cores the kernels use: one pool for everything.
///
/// Every kernel splits its work over `count` Dispatch workers, and OpenBLAS runs single-threaded
/// inside each of them (`BLAS.sgemm` sets it to one thread before its first call), so the cores
/// never run two thread pools at once: no OpenBLAS threads spinning beside Dispatch's.
public enum KernelThreads {
    private static let configured = Atomic<Int>(0)

    /// Workers per operation; by default the cores this process may use.
    public static var count: Int {
        let set = configured.load(ordering: .relaxed)
        return set > 0 ? set : max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Sets the workers per operation (at least 1) and keeps OpenBLAS single-threaded.
    public static func set(_ count: Int) {
        configured.store(max(1, count), ordering: .relaxed)
        BLAS.setThreadCount(1)
    }
}

/// The kernels' work splitters, on `KernelThreads.count` Dispatch workers.
public enum Parallel {
    /// Workers per operation (`KernelThreads.count`).
    static var workers: Int { KernelThreads.count }

    /// Runs `body(i)` for i in 0..<count, spread over the workers when `work` (roughly the
    /// number of elements touched) is large enough to pay for the hand-off.
    static func forEach(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
        if count <= 1 || workers == 1 || work < 1 << 15 {
            for i in 0..<count { body(i) }
        } else {
            forTasks(count, workers: workers) { task, _ in body(task) }
        }
    }

    /// Splits 0..<total into at most `workers` contiguous chunks and runs them in parallel.
    static func forChunks(_ total: Int, minimumChunk: Int = 1 << 14, workers: Int = Parallel.workers,
                          _ body: @Sendable (Range<Int>) -> Void) {
        let chunks = max(1, min(workers, total / max(1, minimumChunk)))
        if chunks == 1 { body(0..<total); return }
        let size = (total + chunks - 1) / chunks
        forTasks(chunks, workers: chunks) { i, _ in
            let lower = i * size
            let upper = min(total, lower + size)
            if lower < upper { body(lower..<upper) }
        }
    }

    /// Runs `body(task, worker)` for every task in 0..<tasks on min(workers, tasks) workers that
    /// take the next task as they finish one (so a core slowed by another process does less);
    /// `worker` in 0..<workers names the scratch slot the call may use, never used by two calls
    /// at once.
    ///
    /// Dispatch runs `iterationsPerWorker` times as many iterations as there are workers, each
    /// first claiming a free slot (and leaving at once when all are taken). With one iteration
    /// per worker, a call that follows another at once often ran alone on the calling thread:
    /// Dispatch's helper, still pending from the call before, arrived after the caller had taken
    /// every iteration (2 workers, two 150 µs tasks, back to back: the second thread joined in 7
    /// of 20 calls; with 8 iterations, in 20 of 20, after 9–23 µs).
    public static func forTasks(_ tasks: Int, workers: Int, _ body: @Sendable (_ task: Int, _ worker: Int) -> Void) {
        let width = max(1, min(workers, tasks, UInt64.bitWidth))
        if width == 1 {
            for task in 0..<tasks { body(task, 0) }
            return
        }
        let next = Atomic<Int>(0)
        let claimed = Atomic<UInt64>(0)  // bit w: slot w is in use
        let all: UInt64 = width == 64 ? .max : (1 << width) - 1
        DispatchQueue.concurrentPerform(iterations: width * iterationsPerWorker) { _ in
            var slot = -1
            var used = claimed.load(ordering: .relaxed)
            while slot < 0 {
                let free = ~used & all
                if free == 0 { return }
                let bit = free.trailingZeroBitCount
                let (exchanged, now) = claimed.compareExchange(expected: used, desired: used | (1 << bit),
                                                               ordering: .acquiring)
                if exchanged { slot = bit } else { used = now }
            }
            defer { claimed.bitwiseAnd(~(1 << UInt64(slot)), ordering: .releasing) }
            while true {
                let task = next.add(1, ordering: .relaxed).oldValue
                if task >= tasks { break }
                body(task, slot)
            }
        }
    }

    /// Dispatch iterations per worker in `forTasks`.
    static let iterationsPerWorker = 4

    /// Splits 0..<total into `parts` contiguous ranges with bounds on multiples of `align`
    /// (the last range takes the rest); empty ranges are dropped.
    public static func ranges(_ total: Int, parts: Int, align: Int = 1) -> [Range<Int>] {
        let units = (total + align - 1) / align
        let per = (units + max(1, parts) - 1) / max(1, parts)
        return stride(from: 0, to: total, by: max(1, per * align)).map { $0..<min(total, $0 + per * align) }
    }
}

/// Whether a band-by-band kernel (convolution, Winograd) gives each worker whole bands, or splits
/// every band's sgemm by output channels: whole bands when an image has enough of them to keep
/// `workers` evenly busy.
///
/// Decided per image, never per batch: the split sgemms are smaller, and OpenBLAS may round them
/// differently (its small-matrix kernels), so an image's result would otherwise depend on what
/// else is in its batch, and the server batches concurrent requests. This way an image comes out
/// bit for bit the same alone or in any batch, and, on whole bands, on any number of workers.
func bandsPerWorker(_ bandsPerImage: Int, workers: Int) -> Bool {
    workers > 1 && (bandsPerImage >= 4 * workers || bandsPerImage % workers == 0)
}
