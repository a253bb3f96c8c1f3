// GroupNorm(32) followed by SiLU on [128, 256, 256] (the decoder's largest activation), one thread:
// (a) as Sources/Tensor does it: statistics summed in Double one element at a time, a normalize
//     pass, then x / (1 + exp(−x)) with Foundation's exp per element;
// (b) fused: statistics in SIMD8<Float> lanes (Float partial sums per lane, combined in Double
//     per block), then one pass that normalizes and applies SiLU with a SIMD exp.
import Foundation

func milliseconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }
typealias V8 = SIMD8<Float>

/// e^x for x in about [−87, 88]: 2^n · p(r), r = x − n·ln2, degree-6 polynomial; relative error ~2e-7.
@inline(__always)
func exp8(_ x: V8) -> V8 {
    var x = x
    x.replace(with: V8(repeating: 88), where: x .> 88)
    x.replace(with: V8(repeating: -87), where: x .< -87)
    // Round x·log2(e) to an integer with the 1.5·2^23 trick: SIMD8<Int32>(v, rounding:) and
    // .rounded() go through generic per-lane code in Swift's standard library (10x slower).
    let magic = V8(repeating: 12582912)  // 1.5 · 2^23
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    let r = x - n * 0.693145751953125 - n * 1.428606765330187045e-06
    var p = V8(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000  // bits of 1.5·2^23
    let bits = (integer &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: V8.self)
}

let (channels, plane, groups) = (128, 256 * 256, 32)
let perGroup = channels / groups
let x: [Float] = {
    var seed: UInt64 = 1
    var values = [Float](repeating: 0, count: channels * plane)
    for i in values.indices {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        values[i] = (Float(seed >> 40) * 0x1p-24 * 2 - 1) * 3 + 0.5
    }
    return values
}()
let gamma = (0..<channels).map { 1 + Float($0 % 7) * 0.05 }
let beta = (0..<channels).map { Float($0 % 5) * 0.02 - 0.04 }
var a = [Float](repeating: 0, count: x.count), b = a

func current(_ out: inout [Float]) {
    for g in 0..<groups {
        let start = g * perGroup * plane, size = perGroup * plane
        var sum = 0.0
        for i in 0..<size { sum += Double(x[start + i]) }
        let mean = sum / Double(size)
        var squares = 0.0
        for i in 0..<size { let d = Double(x[start + i]) - mean; squares += d * d }
        let invStd = 1 / (squares / Double(size) + 1e-6).squareRoot()
        for cg in 0..<perGroup {
            let c = g * perGroup + cg
            let s = Float(Double(gamma[c]) * invStd), t = Float(Double(beta[c]) - mean * Double(gamma[c]) * invStd)
            for i in 0..<plane { out[start + cg * plane + i] = x[start + cg * plane + i] * s + t }
        }
    }
    for i in out.indices { let v = out[i]; out[i] = v / (1 + exp(-v)) }
}

func fused(_ out: inout [Float]) {
    x.withUnsafeBufferPointer { xb in
        out.withUnsafeMutableBufferPointer { ob in
            let src = UnsafeRawPointer(xb.baseAddress!), dst = UnsafeMutableRawPointer(ob.baseAddress!)
            for g in 0..<groups {
                let start = g * perGroup * plane, size = perGroup * plane
                // shifted sums (around the first value) in blocks of 4096: exact enough, vectorized
                let shift = xb[start]
                var sum = 0.0, squares = 0.0
                var i = 0
                while i < size {
                    let end = min(size, i + 4096)
                    var s1 = V8(), s2 = V8()
                    while i < end {
                        let v = src.loadUnaligned(fromByteOffset: (start + i) * 4, as: V8.self) - shift
                        s1 += v; s2 += v * v
                        i += 8
                    }
                    sum += Double(s1.sum()); squares += Double(s2.sum())
                }
                let meanShifted = sum / Double(size)
                let variance = max(0, squares / Double(size) - meanShifted * meanShifted)
                let mean = meanShifted + Double(shift)
                let invStd = 1 / (variance + 1e-6).squareRoot()
                for cg in 0..<perGroup {
                    let c = g * perGroup + cg
                    let s = V8(repeating: Float(Double(gamma[c]) * invStd))
                    let t = V8(repeating: Float(Double(beta[c]) - mean * Double(gamma[c]) * invStd))
                    var j = (start + cg * plane) * 4
                    let stop = j + plane * 4
                    while j < stop {
                        let y = src.loadUnaligned(fromByteOffset: j, as: V8.self) * s + t
                        dst.storeBytes(of: y / (1 + exp8(-y)), toByteOffset: j, as: V8.self)
                        j += 32
                    }
                }
            }
        }
    }
}

var tc: [Double] = [], tf: [Double] = []
for _ in 0..<7 {
    var t0 = milliseconds(); current(&a); tc.append(milliseconds() - t0)
    t0 = milliseconds(); fused(&b); tf.append(milliseconds() - t0)
}
var maxDiff: Float = 0
for i in a.indices { maxDiff = max(maxDiff, abs(a[i] - b[i])) }
tc.sort(); tf.sort()
print(String(format: "GroupNorm + SiLU on [128, 256, 256], 1 thread: now %.1f ms, fused SIMD %.1f ms (%.1fx); max |difference| %.2e",
             tc[3], tf[3], tc[3] / tf[3], maxDiff))
