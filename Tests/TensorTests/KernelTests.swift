import Foundation
import Testing
@testable import Tensor
import TestSupport

@Suite struct GroupNormTests {
    @Test func oneGroupByHand() {
        // Values 1,2,3,4: mean 2.5, biased variance 1.25.
        let x = Tensor(shape: [1, 2, 1, 2], storage: [1, 2, 3, 4])
        var out = Tensor(zeros: [0])
        groupNorm(&out, x, groups: 1, weight: nil, bias: nil, eps: 0)
        let s = Float(1.25).squareRoot()
        assertClose("groupNorm", out.storage, [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], tolerance: 1e-6)
    }

    @Test func affineAndEps() {
        // Two groups of one channel each; γ, β per channel; eps enters under the root.
        let x = Tensor(shape: [1, 2, 1, 2], storage: [0, 2, 5, 5])
        var out = Tensor(zeros: [0])
        groupNorm(&out, x, groups: 2, weight: Tensor(shape: [2], storage: [2, 3]),
                  bias: Tensor(shape: [2], storage: [1, -1]), eps: 1)
        // channel 0: mean 1, var 1 → (x−1)/√2 · 2 + 1; channel 1: constant → β.
        let r = 2 / Float(2).squareRoot()
        assertClose("groupNorm affine", out.storage, [1 - r, 1 + r, -1, -1], tolerance: 1e-6)
    }

    @Test func thirtyTwoGroupsMatchNaive() {
        var values = SeededValues(seed: 3)
        let x = values.tensor([2, 64, 3, 5])
        let gamma = values.tensor([64])
        let beta = values.tensor([64])
        var out = Tensor(zeros: [0])
        groupNorm(&out, x, groups: 32, weight: gamma, bias: beta, eps: 1e-6)
        var want = [Float](repeating: 0, count: x.count)
        let plane = 15
        for b in 0..<2 {
            for g in 0..<32 {
                let start = (b * 64 + g * 2) * plane
                let group = x.storage[start..<start + 2 * plane].map(Double.init)
                let mean = group.reduce(0, +) / Double(group.count)
                let variance = group.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(group.count)
                for i in 0..<(2 * plane) {
                    let c = g * 2 + i / plane
                    want[start + i] = Float((group[i] - mean) / (variance + 1e-6).squareRoot()
                                            * Double(gamma.storage[c]) + Double(beta.storage[c]))
                }
            }
        }
        assertClose("groupNorm 32 groups", out.storage, want, tolerance: 1e-5)
    }

    /// The fused kernel against groupNorm then silu, over planes that are not multiples of 16
    /// (the scalar tails), batch > 1, with and without the affine parameters.
    @Test(arguments: [(1, 4, 1, 1, 2), (2, 6, 3, 5, 3), (3, 64, 7, 9, 32), (1, 32, 17, 33, 8), (2, 8, 1, 2100, 4)])
    func fusedSiLUMatchesSeparate(batch: Int, channels: Int, height: Int, width: Int, groups: Int) {
        var values = SeededValues(seed: UInt64(channels * 100 + width))
        let x = values.tensor([batch, channels, height, width])
        let gamma = values.tensor([channels]), beta = values.tensor([channels])
        for (weight, bias) in [(gamma, beta), (nil, nil)] as [(Tensor?, Tensor?)] {
            var want = Tensor(zeros: [0])
            groupNorm(&want, x, groups: groups, weight: weight, bias: bias, eps: 1e-6)
            silu(&want)
            var got = Tensor(zeros: [5])
            groupNormSiLU(&got, x, groups: groups, weight: weight, bias: bias, eps: 1e-6)
            #expect(got.shape == x.shape)
            assertClose("groupNormSiLU \(x.shape) affine \(weight != nil)", got, want, tolerance: 1e-6)
        }
    }
}

@Suite struct ElementwiseTests {
    @Test func siluKnownValues() {
        var x = Tensor(shape: [4], storage: [0, 1, -1, 20])
        silu(&x)
        assertClose("silu", x.storage, [0, 0.7310586, -0.26894142, 20], tolerance: 1e-6)
    }

    /// The vectorized path against Double, over [−100, 100] (past the exp clamp at ±87 both
    /// ways): relative error a few ulp, or absolute below 1e-26 where the clamp flattens x·e^x.
    @Test func siluMatchesDoubleAcrossRange() {
        var values = SeededValues(seed: 5)
        var x = Tensor(shape: [1 << 17 + 5], storage: (0..<(1 << 17 + 5)).map { _ in values.next() * 100 })
        x.storage[0...6] = [0, -0.0, 1e-30, -87.5, 87.5, -100, 100]
        let want = x.storage.map { Double($0) / (1 + Foundation.exp(-Double($0))) }
        silu(&x)
        var worst = 0.0
        for (got, want) in zip(x.storage, want) {
            worst = max(worst, abs(Double(got) - want) / max(abs(want), 1e-20))
        }
        #expect(worst < 5e-7, "worst relative error \(worst)")
    }

    @Test func residualAddSums() {
        var x = Tensor(shape: [2, 2], storage: [1, 2, 3, 4])
        residualAdd(&x, Tensor(shape: [2, 2], storage: [10, 20, 30, 40]))
        #expect(x.storage == [11, 22, 33, 44])
    }

    @Test func linearByHand() {
        // x [2,3], W [2,3], b [2]
        let x = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6])
        let w = Tensor(shape: [2, 3], storage: [1, 0, -1, 0.5, 0.5, 0.5])
        var out = Tensor(zeros: [0])
        linear(&out, x, weight: w, bias: Tensor(shape: [2], storage: [1, -1]))
        #expect(out.shape == [2, 2])
        assertClose("linear", out.storage, [1 - 3 + 1, 3 - 1, 4 - 6 + 1, 7.5 - 1], tolerance: 1e-6)
    }
}

@Suite struct ResampleTests {
    @Test func nearestUpsampleRepeatsPixels() {
        let x = Tensor(shape: [1, 1, 2, 2], storage: [1, 2, 3, 4])
        var out = Tensor(zeros: [0])
        upsampleNearest2x(&out, x)
        #expect(out.shape == [1, 1, 4, 4])
        #expect(out.storage == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func depthToSpaceDCR() {
        // [1, 8, 1, 1] holding 0...7, C = 2: out[c, i, j] = x[(2i + j)·2 + c].
        let x = Tensor(shape: [1, 8, 1, 1], storage: (0..<8).map(Float.init))
        var out = Tensor(zeros: [0])
        depthToSpace(&out, x, blockSize: 2)
        #expect(out.shape == [1, 2, 2, 2])
        #expect(out.storage == [0, 2, 4, 6, 1, 3, 5, 7])
    }

    @Test func depthToSpaceKeepsSpatialLayout() {
        // [1, 4, 1, 2]: positions w=0,1 each expand to a 2×2 block side by side.
        let x = Tensor(shape: [1, 4, 1, 2], storage: [0, 1, 10, 11, 20, 21, 30, 31])
        var out = Tensor(zeros: [0])
        depthToSpace(&out, x)
        #expect(out.shape == [1, 1, 2, 4])
        #expect(out.storage == [0, 10, 1, 11, 20, 30, 21, 31])
    }
}

@Suite struct AttentionTests {
    @Test func twoTokensByHand() {
        // C = 1: s[i,j] = q_i·k_j. q = (1, 0), k = (0, ln 3), v = (2, 6).
        // Token 0 weights (1/4, 3/4) → 5; token 1 weights (1/2, 1/2) → 4.
        let q = Tensor(shape: [1, 1, 2], storage: [1, 0])
        let k = Tensor(shape: [1, 1, 2], storage: [0, Float(log(3.0))])
        let v = Tensor(shape: [1, 1, 2], storage: [2, 6])
        var out = Tensor(zeros: [0])
        var scores: [Float] = []
        spatialAttention(&out, q: q, k: k, v: v, scores: &scores)
        assertClose("attention", out.storage, [5, 4], tolerance: 1e-5)
    }

    /// Small, and with 2100 positions: more than the 1997 query rows (4 Mi / 2100) of one score block.
    @Test(arguments: [(2, 4, 2, 3), (1, 2, 1, 2100)])
    func matchesNaiveWithScaleAndBatch(batch: Int, c: Int, height: Int, width: Int) {
        var values = SeededValues(seed: 9)
        let n = height * width
        let q = values.tensor([batch, c, height, width])
        let k = values.tensor([batch, c, height, width])
        let v = values.tensor([batch, c, height, width])
        var out = Tensor(zeros: [0])
        var scores: [Float] = []
        spatialAttention(&out, q: q, k: k, v: v, scores: &scores)
        var want = [Float](repeating: 0, count: q.count)
        let scale = 1 / Double(c).squareRoot()
        var logits = [Double](repeating: 0, count: n)
        for b in 0..<batch {
            let base = b * c * n
            for i in 0..<n {
                for j in 0..<n {
                    var dot = 0.0
                    for ch in 0..<c { dot += Double(q.storage[base + ch * n + i]) * Double(k.storage[base + ch * n + j]) }
                    logits[j] = dot * scale
                }
                let top = logits.max()!
                var total = 0.0
                for j in 0..<n { logits[j] = Foundation.exp(logits[j] - top); total += logits[j] }
                for ch in 0..<c {
                    var sum = 0.0
                    for j in 0..<n { sum += logits[j] * Double(v.storage[base + ch * n + j]) }
                    want[base + ch * n + i] = Float(sum / total)
                }
            }
        }
        #expect(out.shape == [batch, c, height, width])
        assertClose("attention \(q.shape)", out.storage, want, tolerance: 1e-5)
    }

    /// Row lengths around the 16-lane width, spreads wide enough that some exponents pass the
    /// −87 clamp, and a constant row: every entry within 2e-7 of Double's softmax, rows summing to 1.
    @Test(arguments: [(1, 1.0), (15, 3.0), (16, 30.0), (17, 300.0), (33, 1.0), (1024, 50.0)])
    func softmaxRowsMatchesDouble(columns: Int, spread: Double) {
        var values = SeededValues(seed: 11)
        let rows = 3
        var m = (0..<rows * columns).map { _ in Float(Double(values.next()) * spread) }
        for j in 0..<columns { m[2 * columns + j] = 7 }  // a constant row: uniform weights
        let input = m
        m.withUnsafeMutableBufferPointer { softmaxRows($0.baseAddress!, rows: rows, columns: columns) }
        for r in 0..<rows {
            let row = input[r * columns..<(r + 1) * columns].map(Double.init)
            let top = row.max()!
            let e = row.map { Foundation.exp($0 - top) }
            let total = e.reduce(0, +)
            var sum = 0.0
            for j in 0..<columns {
                let got = Double(m[r * columns + j])
                #expect(abs(got - e[j] / total) <= 2e-7, "row \(r) column \(j): \(got) vs \(e[j] / total)")
                sum += got
            }
            #expect(abs(sum - 1) <= 1e-5)
        }
    }
}

@Suite struct BLASTests {
    @Test func threadCountIsSettable() {
        let before = BLAS.threadCount
        BLAS.setThreadCount(1)
        #expect(BLAS.threadCount == 1)
        BLAS.setThreadCount(before)
        #expect(BLAS.threadCount == before)
    }
}

@Suite struct TensorStorageTests {
    @Test func resizeKeepsCapacityAndCompactedDropsIt() {
        var t = Tensor(zeros: [1000])
        t.resize(to: [2, 3])
        #expect(t.count == 6 && t.storage.capacity >= 1000)
        for i in 0..<6 { t.storage[i] = Float(i) }
        #expect(t.storage.capacity >= 1000)
        let compact = t.compacted()
        #expect(compact == t)
        #expect(compact.storage.capacity < 1000)
    }
}
