import Dispatch
import Synchronization
import Testing
@testable import Tensor
import TestSupport

/// The kernels split their work over `workers` (each running single-threaded sgemms); the
/// result must not depend on how many there are. Each case is run at 1, 2 and 3 workers and
/// compared with the 1-worker result element by element. Where each worker takes whole bands
/// the operations are the same and so are the results, exactly; where one band's sgemm is split
/// by output channels, OpenBLAS's kernels may round a row differently in a smaller sgemm (by an
/// ulp or so), hence a tolerance of 1e-6 relative to the largest output (1e-5 after Winograd
/// F(4×4)'s output transform, whose coefficients of up to 8 along each side amplify those ulps).
@Suite struct WorkerTests {
    static let workerCounts = [2, 3]

    /// Runs `run(workers)` at 1 worker and at each of `workerCounts`, comparing with the first;
    /// returns the 1-worker result.
    @discardableResult
    static func expectSameOnAnyWorkers(_ label: String, exactly: Bool = false, relativeTolerance: Float = 1e-6,
                                       _ run: (Int) -> Tensor) -> Tensor {
        let single = run(1)
        let scale = max(1, single.storage.map(abs).max() ?? 0)
        for workers in workerCounts {
            assertClose("\(label), \(workers) workers", run(workers), single,
                        tolerance: exactly ? 0 : relativeTolerance * scale)
        }
        return single
    }

    /// Shapes that take either path: whole bands per worker (many bands) and bands split by
    /// channels and output channels (one or two bands); output channels not multiples of 16.
    static let winogradCases: [WinogradCase] = [
        WinogradCase(batch: 1, channels: 40, height: 16, width: 16, outChannels: 40),
        WinogradCase(batch: 1, channels: 24, height: 24, width: 37, outChannels: 50, bandFloats: 16 * 74 * 40),
        WinogradCase(batch: 3, channels: 12, height: 10, width: 12, outChannels: 7),
        WinogradCase(batch: 2, channels: 13, height: 33, width: 17, outChannels: 9, bandFloats: 16 * 22 * 10),
        WinogradCase(batch: 1, channels: 9, height: 1, width: 1, outChannels: 33),
    ]

    @Test(arguments: winogradCases, WinogradTile.allCases)
    func winogradIsTheSameOnAnyWorkers(_ c: WinogradCase, tile: WinogradTile) {
        var values = SeededValues(seed: UInt64(31 + c.channels))
        let input = values.tensor([c.batch, c.channels, c.height, c.width])
        let weight = Conv3x3Winograd(weight: values.tensor([c.outChannels, c.channels, 3, 3]), tile: tile)
        let bias = values.tensor([c.outChannels])
        Self.expectSameOnAnyWorkers("\(c.testDescription) \(tile)",
                                    relativeTolerance: tile == .f4x4 ? 1e-5 : 1e-6) { workers in
            var out = Tensor(zeros: [0])
            var scratch: [Float] = []
            conv3x3Winograd(&out, input, weight: weight, bias: bias, scratch: &scratch, bandFloats: c.bandFloats,
                            workers: workers)
            return out
        }
    }

    /// Many bands per image: every worker runs whole bands, the same operations as one worker.
    @Test(arguments: WinogradTile.allCases)
    func winogradBandsPerWorkerAreExact(tile: WinogradTile) {
        var values = SeededValues(seed: 77)
        // 12 bands per image for either tile: whole bands on 2 and on 3 workers.
        let input = values.tensor([2, 16, 48, 24])
        let weight = Conv3x3Winograd(weight: values.tensor([24, 16, 3, 3]), tile: tile)
        Self.expectSameOnAnyWorkers("bands per worker \(tile)", exactly: true) { workers in
            var out = Tensor(zeros: [0])
            var scratch: [Float] = []
            conv3x3Winograd(&out, input, weight: weight, bias: nil, scratch: &scratch, bandFloats: 16 * 40 * 24,
                            workers: workers)
            return out
        }
    }

    static let convCases: [ConvCase] = [
        // Many bands (K·Wo = 576·48), one band, stride 2, and 1×1 at batch 1 and 4.
        ConvCase(batch: 2, channels: 64, height: 50, width: 48, outChannels: 3, kernel: 3, stride: 1, padding: .symmetric(1)),
        ConvCase(batch: 1, channels: 8, height: 9, width: 9, outChannels: 40, kernel: 3, stride: 1, padding: .symmetric(1)),
        ConvCase(batch: 3, channels: 16, height: 33, width: 31, outChannels: 20, kernel: 3, stride: 2, padding: .rightBottom),
        ConvCase(batch: 1, channels: 24, height: 8, width: 8, outChannels: 50, kernel: 1, stride: 1, padding: .zero),
        ConvCase(batch: 4, channels: 24, height: 8, width: 8, outChannels: 50, kernel: 1, stride: 1, padding: .zero),
    ]

    @Test(arguments: convCases)
    func im2colIsTheSameOnAnyWorkers(_ c: ConvCase) {
        var values = SeededValues(seed: UInt64(17 + c.channels))
        let input = values.tensor([c.batch, c.channels, c.height, c.width])
        let weight = values.tensor([c.outChannels, c.channels, c.kernel, c.kernel])
        let bias = values.tensor([c.outChannels])
        let single = Self.expectSameOnAnyWorkers(c.testDescription) { workers in
            var out = Tensor(zeros: [0])
            var columns: [Float] = []
            conv2d(&out, input, weight: weight, bias: bias, stride: c.stride, padding: c.padding, columns: &columns,
                   workers: workers)
            return out
        }
        let want = conv2dReference(input, weight: weight, bias: bias, stride: c.stride, padding: c.padding)
        assertClose(c.testDescription, single, want, tolerance: 1e-4)
    }

    /// The server batches concurrent requests, so an image's output must not depend on what else
    /// is in its batch: each image of a batch of 3 equals that image run alone, bit for bit, on
    /// 2 and 3 workers, for one band per image (split sgemms) and for many (whole bands).
    @Test(arguments: [(16, 16), (56, 20)])
    func anImageComesOutTheSameAloneOrInABatch(height: Int, width: Int) {
        var values = SeededValues(seed: UInt64(height))
        let batch = values.tensor([3, 24, height, width])
        let weight = values.tensor([40, 24, 3, 3])
        let pointwise = values.tensor([40, 24, 1, 1])
        let bias = values.tensor([40])
        let tiles = WinogradTile.allCases.map { Conv3x3Winograd(weight: weight, tile: $0) }
        func run(_ input: Tensor, workers: Int) -> [Tensor] {
            var columns: [Float] = []
            var outs = [Tensor](repeating: Tensor(zeros: [0]), count: 2 + tiles.count)
            conv2d(&outs[0], input, weight: weight, bias: bias, stride: 1, padding: .symmetric(1),
                   columns: &columns, workers: workers)
            conv2d(&outs[1], input, weight: pointwise, bias: bias, stride: 1, padding: .zero,
                   columns: &columns, workers: workers)
            for (i, tile) in tiles.enumerated() {
                conv3x3Winograd(&outs[2 + i], input, weight: tile, bias: bias, scratch: &columns,
                                bandFloats: 1 << 14, workers: workers)
            }
            return outs
        }
        let plane = 24 * height * width
        for workers in Self.workerCounts {
            let together = run(batch, workers: workers)
            for b in 0..<3 {
                let image = Tensor(shape: [1, 24, height, width],
                                   storage: Array(batch.storage[(b * plane)..<((b + 1) * plane)]))
                for (kernel, alone) in run(image, workers: workers).enumerated() {
                    let part = alone.count
                    assertClose("kernel \(kernel), image \(b), \(workers) workers",
                                Array(together[kernel].storage[(b * part)..<((b + 1) * part)]), alone.storage,
                                tolerance: 0)
                }
            }
        }
    }

    /// 300 positions: one query block per worker; batch 2.
    @Test func attentionIsTheSameOnAnyWorkers() {
        var values = SeededValues(seed: 5)
        let shape = [2, 16, 15, 20]
        let (q, k, v) = (values.tensor(shape), values.tensor(shape), values.tensor(shape))
        Self.expectSameOnAnyWorkers("attention") { workers in
            var out = Tensor(zeros: [0])
            var scores: [Float] = []
            spatialAttention(&out, q: q, k: k, v: v, scores: &scores, workers: workers)
            return out
        }
    }

    /// Two threads calling the single-threaded sgemm at once get what one thread gets alone.
    @Test func concurrentSgemmCallsMatchOneCall() {
        var values = SeededValues(seed: 8)
        let (m, n, k) = (96, 130, 200)
        let a = values.tensor([m, k]).storage
        let b = values.tensor([k, n]).storage
        @Sendable func product() -> [Float] {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                                   c: pc.baseAddress!, ldc: n)
                    }
                }
            }
            return c
        }
        let alone = product()
        let results = Mutex<[[Float]]>(Array(repeating: [], count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let c = product()
            results.withLock { $0[i] = c }
        }
        let all = results.withLock { $0 }
        for i in 0..<8 { assertClose("concurrent call \(i)", all[i], alone, tolerance: 0) }
    }

    /// forTasks runs every task once, and no two calls at once hold the same worker slot, which
    /// stays below the worker count (its Dispatch iterations outnumber the workers and claim
    /// slots). Tasks spin a moment so that calls overlap; repeated back to back.
    @Test(arguments: [2, 3, 5])
    func forTasksGivesEachRunningCallItsOwnSlot(workers: Int) {
        for _ in 0..<20 {
            let tasks = 40
            let ran = Mutex([Int](repeating: 0, count: tasks))
            let busy = Mutex([Bool](repeating: false, count: workers))
            let clashes = Atomic<Int>(0)
            Parallel.forTasks(tasks, workers: workers) { task, slot in
                guard slot >= 0 && slot < workers else { clashes.add(1, ordering: .relaxed); return }
                if busy.withLock({ let was = $0[slot]; $0[slot] = true; return was }) { clashes.add(1, ordering: .relaxed) }
                let end = DispatchTime.now().uptimeNanoseconds + 20_000
                while DispatchTime.now().uptimeNanoseconds < end {}
                busy.withLock { $0[slot] = false }
                ran.withLock { $0[task] += 1 }
            }
            #expect(clashes.load(ordering: .relaxed) == 0)
            #expect(ran.withLock { $0 } == [Int](repeating: 1, count: tasks))
        }
    }

    @Test func rangesCoverInAlignedParts() {
        #expect(Parallel.ranges(50, parts: 2, align: 16) == [0..<32, 32..<50])
        #expect(Parallel.ranges(7, parts: 2, align: 16) == [0..<7])
        #expect(Parallel.ranges(10, parts: 3) == [0..<4, 4..<8, 8..<10])
        #expect(Parallel.ranges(0, parts: 2).isEmpty)
    }
}
