// 3×3, stride 1, pad 1 convolution (NCHW, one image): banded im2col + sgemm, as vqtok's
// conv2d does today, against Winograd F(2×2, 3×3) on the same OpenBLAS. Prints medians and the
// largest difference from the im2col result. See ../../README.md ("What to optimize next").
import COpenBLAS
import Dispatch
import Foundation

func milliseconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

struct Pointer<T>: @unchecked Sendable {  // workers touch disjoint parts; buffers outlive them
    let base: UnsafeMutablePointer<T>
}

// MARK: im2col (the current algorithm)

func convIm2col(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                c: Int, o: Int, h: Int, wd: Int, columns: UnsafeMutablePointer<Float>, bandFloats: Int = 1 << 20) {
    let k = c * 9
    let bandRows = max(1, min(h, bandFloats / (k * wd)))
    var row = 0
    while row < h {
        let rows = min(bandRows, h - row)
        let n = rows * wd
        for ch in 0..<c {
            let plane = x + ch * h * wd
            for ky in 0..<3 {
                for kx in 0..<3 {
                    var col = columns + ((ch * 3 + ky) * 3 + kx) * n
                    for r in 0..<rows {
                        let y = row + r - 1 + ky
                        if y < 0 || y >= h {
                            col.update(repeating: 0, count: wd)
                        } else {
                            let line = plane + y * wd
                            for ox in 0..<wd {
                                let xx = ox - 1 + kx
                                col[ox] = (xx >= 0 && xx < wd) ? line[xx] : 0
                            }
                        }
                        col += wd
                    }
                }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(n), Int32(k), 1, w, Int32(k),
                    columns, Int32(n), 0, out + row * wd, Int32(h * wd))
        row += rows
    }
}

// MARK: Winograd F(2×2, 3×3)

/// U[ξ][o][c] = (G g Gᵀ)[ξ] for each 3×3 kernel g: computed once, at model load.
func winogradWeights(_ w: [Float], o: Int, c: Int) -> [Float] {
    var u = [Float](repeating: 0, count: 16 * o * c)
    for oc in 0..<(o * c) {
        let g = Array(w[(oc * 9)..<(oc * 9 + 9)])
        var t = [Float](repeating: 0, count: 12)  // G g: 4×3
        for j in 0..<3 {
            let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j])
            t[j] = g0
            t[3 + j] = 0.5 * (g0 + g1 + g2)
            t[6 + j] = 0.5 * (g0 - g1 + g2)
            t[9 + j] = g2
        }
        for i in 0..<4 {
            let (a, b, cc) = (t[i * 3], t[i * 3 + 1], t[i * 3 + 2])
            let row = [a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc]
            for j in 0..<4 { u[(i * 4 + j) * o * c + oc] = row[j] }
        }
    }
    return u
}

/// out[o] = Σ_c w[o,c] ⋆ x[c] for H and W even. The image is cut into bands of tile rows; per
/// band, V = Bᵀ d B for every 4×4 input tile (laid out [ξ][c][tile]), 16 sgemms M[ξ] = U[ξ]·V[ξ]
/// ([o×c]·[c×tiles]), and Y = Aᵀ M A back into the output. 16 multiply-adds per 2×2 outputs
/// and input channel instead of 36: 2.25× fewer flops in the sgemms.
func convWinograd(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, u: UnsafePointer<Float>,
                  c: Int, o: Int, h: Int, wd: Int, firstTileRow: Int, tileRows: Int,
                  v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>) {
    let tw = wd / 2
    let n = tw + 1
    let p = tileRows * tw
    // Input transform. For each input row, E[k] = x[2k − 1] and O[k] = x[2k] (padded with zeros),
    // so the tile at tx spans E[tx], O[tx], E[tx+1], O[tx+1]: every step is contiguous over tx.
    for ch in 0..<c {
        let plane = x + ch * h * wd
        for r in 0..<tileRows {
            let ty = firstTileRow + r
            for i in 0..<4 {
                let e = rows + (2 * i) * n, od = rows + (2 * i + 1) * n
                let y = 2 * ty - 1 + i
                if y < 0 || y >= h {
                    e.update(repeating: 0, count: n)
                    od.update(repeating: 0, count: n)
                    continue
                }
                let line = plane + y * wd
                e[0] = 0
                for k in 1..<n { e[k] = line[2 * k - 1] }
                for k in 0..<tw { od[k] = line[2 * k] }
                od[tw] = 0
            }
            let (e0, o0, e1, o1) = (rows, rows + n, rows + 2 * n, rows + 3 * n)
            let (e2, o2, e3, o3) = (rows + 4 * n, rows + 5 * n, rows + 6 * n, rows + 7 * n)
            let stride = c * p
            for i in 0..<4 {
                let base = v + i * 4 * stride + ch * p + r * tw
                // Row i of Bᵀ d: r0 − r2, r1 + r2, r2 − r1, r1 − r3; then the same along columns.
                let (ea, oa, eb, ob, sign): (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                             UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Float) =
                    switch i {
                    case 0: (e0, o0, e2, o2, -1)
                    case 1: (e1, o1, e2, o2, 1)
                    case 2: (e2, o2, e1, o1, -1)
                    default: (e1, o1, e3, o3, -1)
                    }
                for tx in 0..<tw {
                    let a0 = ea[tx] + sign * eb[tx], a1 = oa[tx] + sign * ob[tx]
                    let a2 = ea[tx + 1] + sign * eb[tx + 1], a3 = oa[tx + 1] + sign * ob[tx + 1]
                    base[tx] = a0 - a2
                    base[stride + tx] = a1 + a2
                    base[2 * stride + tx] = a2 - a1
                    base[3 * stride + tx] = a1 - a3
                }
            }
        }
    }
    for xi in 0..<16 {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(p), Int32(c), 1,
                    u + xi * o * c, Int32(c), v + xi * c * p, Int32(p), 0, m + xi * o * p, Int32(p))
    }
    // Output transform Aᵀ M A, contiguous over tx.
    let op = o * p
    for oc in 0..<o {
        for r in 0..<tileRows {
            let mp = m + oc * p + r * tw
            let row0 = out + (oc * h + 2 * (firstTileRow + r)) * wd, row1 = row0 + wd
            for tx in 0..<tw {
                var s0 = SIMD4<Float>(), s1 = SIMD4<Float>()
                for j in 0..<4 {
                    let m0 = mp[j * op + tx], m1 = mp[(4 + j) * op + tx]
                    let m2 = mp[(8 + j) * op + tx], m3 = mp[(12 + j) * op + tx]
                    s0[j] = m0 + m1 + m2
                    s1[j] = m1 - m2 - m3
                }
                row0[2 * tx] = s0[0] + s0[1] + s0[2]
                row0[2 * tx + 1] = s0[1] - s0[2] - s0[3]
                row1[2 * tx] = s1[0] + s1[1] + s1[2]
                row1[2 * tx + 1] = s1[1] - s1[2] - s1[3]
            }
        }
    }
}

/// Winograd over the whole image: bands of about `tilesPerBand` tiles; with `workers` > 1 the
/// bands are shared out over Dispatch workers, each running single-threaded sgemms.
final class Winograd: @unchecked Sendable {  // each worker owns one slot of scratch
    let c, o, h, wd, bandRows, workers: Int
    let u: [Float]
    var scratch: [(v: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, rows: UnsafeMutablePointer<Float>)]

    init(weights: [Float], c: Int, o: Int, h: Int, wd: Int, tilesPerBand: Int, workers: Int) {
        (self.c, self.o, self.h, self.wd, self.workers) = (c, o, h, wd, workers)
        u = winogradWeights(weights, o: o, c: c)
        bandRows = max(1, min(h / 2, tilesPerBand / (wd / 2)))
        let p = bandRows * (wd / 2)
        scratch = (0..<workers).map { _ in
            (UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * p),
             UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * p),
             UnsafeMutablePointer<Float>.allocate(capacity: 8 * (wd / 2 + 1)))
        }
    }

    func run(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>) {
        let bands = (h / 2 + bandRows - 1) / bandRows
        let (outP, xP) = (Pointer(base: out), Pointer(base: UnsafeMutablePointer(mutating: x)))
        u.withUnsafeBufferPointer { ub in
            let uP = Pointer(base: UnsafeMutablePointer(mutating: ub.baseAddress!))
            let body: @Sendable (Int) -> Void = { worker in
                var band = worker
                while band < bands {
                    let first = band * self.bandRows
                    let s = self.scratch[worker]
                    convWinograd(out: outP.base, x: xP.base, u: uP.base, c: self.c, o: self.o, h: self.h, wd: self.wd,
                                 firstTileRow: first, tileRows: min(self.bandRows, self.h / 2 - first),
                                 v: s.v, m: s.m, rows: s.rows)
                    band += self.workers
                }
            }
            if workers == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: workers, execute: body) }
        }
    }
}

// MARK: the comparison

let threads = Int(CommandLine.arguments.dropFirst().first ?? "1") ?? 1
let repeats = 7
struct Generator {
    var seed: UInt64 = 12345
    mutating func next() -> Float {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(seed >> 40) * 0x1p-24 * 2 - 1
    }
}
var generator = Generator()

// Exactness on a small case against a direct convolution in Double.
do {
    let (c, o, h, wd) = (32, 16, 10, 12)
    let x = (0..<(c * h * wd)).map { _ in generator.next() }
    let w = (0..<(o * c * 9)).map { _ in generator.next() * 0.2 }
    var want = [Double](repeating: 0, count: o * h * wd)
    for oc in 0..<o { for y in 0..<h { for xx in 0..<wd {
        var s = 0.0
        for ch in 0..<c { for ky in 0..<3 { for kx in 0..<3 {
            let (yy, xi) = (y - 1 + ky, xx - 1 + kx)
            if yy >= 0 && yy < h && xi >= 0 && xi < wd {
                s += Double(w[((oc * c + ch) * 3 + ky) * 3 + kx]) * Double(x[(ch * h + yy) * wd + xi])
            }
        } } }
        want[(oc * h + y) * wd + xx] = s
    } } }
    var got = [Float](repeating: 0, count: o * h * wd)
    let wino = Winograd(weights: w, c: c, o: o, h: h, wd: wd, tilesPerBand: 12, workers: 1)
    got.withUnsafeMutableBufferPointer { wino.run(out: $0.baseAddress!, x: x) }
    let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
    print("winograd vs direct (Double), 32→16 at 10×12: max abs error \(err)")
}

openblas_set_num_threads(Int32(threads))
print("threads \(threads); medians of \(repeats) (min)")
for (c, side) in [(128, 256), (128, 128), (256, 64), (256, 32), (512, 16)] {
    let (o, h, wd) = (c, side, side)
    let x = (0..<(c * h * wd)).map { _ in generator.next() }
    let w = (0..<(o * c * 9)).map { _ in generator.next() * 0.05 }
    let flops = 2.0 * Double(o * c * 9 * h * wd)
    var reference = [Float](repeating: 0, count: o * h * wd)
    var result = reference
    let columns = UnsafeMutablePointer<Float>.allocate(capacity: 1 << 20 + c * 9 * wd)
    var variants: [(String, Winograd?)] = [("im2col + sgemm (now)", nil)]
    for tiles in [512, 2048] {
        variants.append(("winograd F(2,3), \(tiles) tiles/band",
                         Winograd(weights: w, c: c, o: o, h: h, wd: wd, tilesPerBand: tiles, workers: 1)))
    }
    if threads > 1 {
        variants.append(("winograd, \(threads) workers × 1-thread sgemm",
                         Winograd(weights: w, c: c, o: o, h: h, wd: wd, tilesPerBand: 512, workers: threads)))
    }
    var times = [[Double]](repeating: [], count: variants.count)
    var maxDiff: Float = 0
    for _ in 0..<repeats {
        for (i, (_, wino)) in variants.enumerated() {
            let t0 = milliseconds()
            if let wino {
                if wino.workers > 1 { openblas_set_num_threads(1) }
                result.withUnsafeMutableBufferPointer { wino.run(out: $0.baseAddress!, x: x) }
                if wino.workers > 1 { openblas_set_num_threads(Int32(threads)) }
            } else {
                reference.withUnsafeMutableBufferPointer {
                    convIm2col(out: $0.baseAddress!, x: x, w: w, c: c, o: o, h: h, wd: wd, columns: columns)
                }
            }
            times[i].append(milliseconds() - t0)
            if wino != nil { maxDiff = max(maxDiff, zip(reference, result).map { abs($0 - $1) }.max()!) }
        }
    }
    print("3x3 \(c)->\(o) @\(side): max |winograd − im2col| = \(maxDiff)")
    for (i, (name, _)) in variants.enumerated() {
        let sorted = times[i].sorted()
        let med = sorted[sorted.count / 2]
        print(String(format: "  %-40@ %8.2f ms (%7.2f)  %6.1f GFLOP/s", name as NSString, med, sorted[0], flops / med / 1e6))
    }
}
