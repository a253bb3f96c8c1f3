/// The weights of a 3×3 convolution transformed for Winograd F(2×2, 3×3), once, at load:
///
///     weight      [O, C, 3, 3]       (PyTorch layout)
///     transformed [16, O, C]         U[ξ][o][c] = (G g Gᵀ)[ξ] for g = weight[o, c], ξ = 4·i + j
///
/// with G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]. 16/9 of the original's memory.
public struct Conv3x3Winograd: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    let transformed: [Float]

    public init(weight: Tensor) {
        precondition(weight.shape.count == 4 && weight.shape[2] == 3 && weight.shape[3] == 3,
                     "Conv3x3Winograd wants a [O, C, 3, 3] weight, got \(weight.shape)")
        let (o, c) = (weight.shape[0], weight.shape[1])
        outChannels = o
        inChannels = c
        let kernels = o * c
        transformed = [Float](unsafeUninitializedCapacity: 16 * kernels) { u, initialized in
            weight.storage.withUnsafeBufferPointer { w in
                // Blocks of 256 kernels transformed into a small buffer, then copied plane by
                // plane: contiguous writes instead of 16 interleaved streams. The blocks are
                // spread over the workers (this runs once per layer at load).
                let block = 256
                let (src, dst) = (SharedConstPointer(w.baseAddress!), SharedPointer(u.baseAddress!))
                Parallel.forChunks((kernels + block - 1) / block, minimumChunk: 16) { blocks in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * block) { buffer in
                        for index in blocks {
                            let first = index * block
                            let count = min(block, kernels - first)
                            for k in 0..<count {
                                let values = winogradKernel(src.base + (first + k) * 9)
                                for xi in 0..<16 { buffer[xi * block + k] = values[xi] }
                            }
                            for xi in 0..<16 {
                                (dst.base + xi * kernels + first).update(from: buffer.baseAddress! + xi * block, count: count)
                            }
                        }
                    }
                }
            }
            initialized = 16 * kernels
        }
    }
}

/// G g Gᵀ for one 3×3 kernel g (row-major), ξ = 4·i + j; in Double so the only rounding is the last.
private func winogradKernel(_ g: UnsafePointer<Float>) -> SIMD16<Float> {
    // G g: 4×3, rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of the kernel's rows.
    // t(column) = that column of G g; no array, so nothing is allocated per kernel.
    func t(_ column: Int) -> SIMD4<Double> {
        let (g0, g1, g2) = (Double(g[column]), Double(g[3 + column]), Double(g[6 + column]))
        return SIMD4(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
    }
    let (t0, t1, t2) = (t(0), t(1), t(2))
    // (G g) Gᵀ: the same combination across columns.
    let columns = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
    var result = SIMD16<Float>()
    for i in 0..<4 {
        result[4 * i] = Float(columns.0[i])
        result[4 * i + 1] = Float(columns.1[i])
        result[4 * i + 2] = Float(columns.2[i])
        result[4 * i + 3] = Float(columns.3[i])
    }
    return result
}

/// 3×3 convolution, stride 1, zero padding 1 on every side, by Winograd F(2×2, 3×3).
///
///     input  [B, C, H, W]   (any H, W ≥ 1: the last tile row / column is cut where H or W is odd)
///     weight Conv3x3Winograd of a [O, C, 3, 3] weight
///     bias   [O] or nil
///     out    [B, O, H, W]
///
/// The image is cut into 2×2 output tiles, ⌈H/2⌉ × ⌈W/2⌉, processed in bands of whole tile rows.
/// Per band: V = Bᵀ d B for every 4×4 input tile d ([16, C, tiles]), 16 sgemms
/// M[ξ] = U[ξ]·V[ξ] ([O×C]·[C×tiles]) and Y = Aᵀ M A (+ bias) into the output: 16
/// multiply-adds per 2×2 outputs and input channel instead of im2col's 36. `scratch` holds
/// V and M for one band (about 8 MiB at most, grown on demand and reused across calls).
public func conv3x3Winograd(_ out: inout Tensor, _ input: Tensor, weight: Conv3x3Winograd, bias: Tensor?,
                            scratch: inout [Float]) {
    conv3x3Winograd(&out, input, weight: weight, bias: bias, scratch: &scratch, bandFloats: 1 << 21)
}

/// `conv3x3Winograd` with V and M of one band near `bandFloats` floats (tests use small bands)
/// on `workers` workers.
///
/// The bands of every image are the tasks. When there are enough of them, each worker takes
/// whole bands, one after another, on its own V and M (its single-threaded sgemms pack only
/// what they use); otherwise (a small image: one or two bands) each band is split: the input
/// transform over channels, then the sgemms and the output transform over output channels.
/// Either way every output is computed by the same operations, whatever `workers` is.
func conv3x3Winograd(_ out: inout Tensor, _ input: Tensor, weight: Conv3x3Winograd, bias: Tensor?,
                     scratch: inout [Float], bandFloats: Int, workers: Int = Parallel.workers) {
    precondition(input.shape.count == 4, "conv3x3Winograd wants NCHW input")
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let outChannels = weight.outChannels
    precondition(weight.inChannels == channels, "conv3x3Winograd: weight \(weight.inChannels) channels, input \(input.shape)")
    precondition(bias == nil || bias!.shape == [outChannels], "conv3x3Winograd: bias must be [\(outChannels)]")
    out.resize(to: [batch, outChannels, height, width])
    guard batch > 0 && height > 0 && width > 0 && outChannels > 0 else { return }

    let tiles = WinogradTiling(channels: channels, outChannels: outChannels, height: height, width: width,
                               bandFloats: bandFloats)
    let bandsPerImage = (tiles.rows + tiles.bandRows - 1) / tiles.bandRows
    let tasks = batch * bandsPerImage
    let bandPerWorker = workers > 1 && (tasks >= 4 * workers || tasks % workers == 0)
    let slots = bandPerWorker ? min(workers, tasks) : 1
    let slotFloats = 16 * (channels + outChannels) * tiles.perBand
    if scratch.count < slots * slotFloats {
        scratch.append(contentsOf: repeatElement(0, count: slots * slotFloats - scratch.count))
    }
    let zeros = [Float](repeating: 0, count: bias == nil ? outChannels : 0)
    let biasValues = bias?.storage ?? zeros

    input.storage.withUnsafeBufferPointer { inBuf in
        weight.transformed.withUnsafeBufferPointer { uBuf in
            out.storage.withUnsafeMutableBufferPointer { outBuf in
                scratch.withUnsafeMutableBufferPointer { scratchBuf in
                    biasValues.withUnsafeBufferPointer { biasBuf in
                        let job = WinogradJob(input: SharedConstPointer(inBuf.baseAddress!),
                                              u: SharedConstPointer(uBuf.baseAddress!),
                                              out: SharedPointer(outBuf.baseAddress!),
                                              scratch: SharedPointer(scratchBuf.baseAddress!),
                                              bias: SharedConstPointer(biasBuf.baseAddress!),
                                              tiling: tiles, bandsPerImage: bandsPerImage, slotFloats: slotFloats)
                        if bandPerWorker {
                            Parallel.forTasks(tasks, workers: workers) { task, worker in
                                job.run(task, slot: worker, channels: 0..<channels, outChannels: 0..<outChannels)
                            }
                        } else {
                            for task in 0..<tasks { job.runSplit(task, workers: workers) }
                        }
                    }
                }
            }
        }
    }
}

/// One Winograd convolution's buffers, shared by its workers; a task is one band of one image.
///
/// Scratch slot s holds V [16, C, perBand] and then M [16, O, perBand] for the band its worker runs.
private struct WinogradJob: Sendable {
    let input: SharedConstPointer<Float>
    let u: SharedConstPointer<Float>
    let out: SharedPointer<Float>
    let scratch: SharedPointer<Float>
    let bias: SharedConstPointer<Float>
    let tiling: WinogradTiling
    let bandsPerImage: Int
    let slotFloats: Int

    private func band(_ task: Int) -> (image: Int, WinogradBand) {
        let firstRow = (task % bandsPerImage) * tiling.bandRows
        return (task / bandsPerImage,
                WinogradBand(tiling: tiling, firstRow: firstRow, rows: min(tiling.bandRows, tiling.rows - firstRow)))
    }

    private func image(_ b: Int) -> UnsafePointer<Float> { input.base + b * tiling.channels * tiling.height * tiling.width }
    private func result(_ b: Int) -> UnsafeMutablePointer<Float> {
        out.base + b * tiling.outChannels * tiling.height * tiling.width
    }
    private func v(_ slot: Int) -> UnsafeMutablePointer<Float> { scratch.base + slot * slotFloats }
    private func m(_ slot: Int) -> UnsafeMutablePointer<Float> { v(slot) + 16 * tiling.channels * tiling.perBand }

    /// The whole band `task` (or the given channel ranges of it) in scratch slot `slot`, on this thread.
    func run(_ task: Int, slot: Int, channels: Range<Int>, outChannels: Range<Int>) {
        let (b, band) = band(task)
        winogradInputTransform(into: v(slot), image: image(b), band, channels: channels)
        winogradProducts(into: m(slot), u: u.base, v: v(slot), band, outChannels: outChannels)
        winogradOutputTransform(into: result(b), products: m(slot), bias: bias.base, band, outChannels: outChannels)
    }

    /// Band `task` split over `workers`: V by channels, then M and the output by output channels.
    func runSplit(_ task: Int, workers: Int) {
        let (b, band) = band(task)
        let p = band.count
        Parallel.forChunks(tiling.channels, minimumChunk: max(1, (1 << 14) / max(1, 16 * p)), workers: workers) {
            winogradInputTransform(into: v(0), image: image(b), band, channels: $0)
        }
        // Multiples of 16 output channels per worker, so that each sgemm keeps whole register tiles.
        let parts = Parallel.ranges(tiling.outChannels, parts: workers, align: 16)
        Parallel.forTasks(parts.count, workers: workers) { part, _ in
            winogradProducts(into: m(0), u: u.base, v: v(0), band, outChannels: parts[part])
            winogradOutputTransform(into: result(b), products: m(0), bias: bias.base, band, outChannels: parts[part])
        }
    }
}

/// M[ξ][o][t] = Σ_c U[ξ][o][c] · V[ξ][c][t] for o in `outChannels`, every ξ and tile t of the band:
/// 16 sgemms [o×C]·[C×tiles].
func winogradProducts(into m: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, v: UnsafePointer<Float>,
                      _ band: WinogradBand, outChannels: Range<Int>) {
    let g = band.tiling
    let p = band.count
    guard !outChannels.isEmpty else { return }
    for xi in 0..<16 {
        BLAS.sgemm(m: outChannels.count, n: p, k: g.channels,
                   a: u + (xi * g.outChannels + outChannels.lowerBound) * g.channels, lda: g.channels,
                   b: v + xi * g.channels * p, ldb: p,
                   c: m + (xi * g.outChannels + outChannels.lowerBound) * p, ldc: p)
    }
}

/// How an image is cut into 2×2 output tiles and bands of tile rows.
struct WinogradTiling: Sendable {
    var channels, outChannels, height, width: Int
    /// Tile rows ⌈H/2⌉, tiles per row ⌈W/2⌉, tile rows per band, tiles per full band.
    var rows, columns, bandRows, perBand: Int

    init(channels: Int, outChannels: Int, height: Int, width: Int, bandFloats: Int) {
        (self.channels, self.outChannels, self.height, self.width) = (channels, outChannels, height, width)
        rows = (height + 1) / 2
        columns = (width + 1) / 2
        // V and M of one band near `bandFloats`, but at least ~256 tiles so the sgemms stay wide
        // (tests pass a tiny budget to get several bands from a small image).
        let minimumTiles = bandFloats >= 1 << 20 ? 256 : 1
        let budgetTiles = max(minimumTiles, bandFloats / (16 * (channels + outChannels)))
        bandRows = max(1, min(rows, budgetTiles / columns))
        perBand = bandRows * columns
    }
}

/// Tile rows firstRow ..< firstRow + rows of one image.
struct WinogradBand: Sendable {
    var tiling: WinogradTiling
    var firstRow, rows: Int
    /// Tiles in this band: the column count of V[ξ] and M[ξ].
    var count: Int { rows * tiling.columns }
}

/// V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of the band, d the 4×4 input patch at rows
/// 2·ty − 1 ..< 2·ty + 3, columns 2·tx − 1 ..< 2·tx + 3 (zero outside the image), with
/// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
///
/// Each input row is split into E[k] = x[2k − 1] and O[k] = x[2k] (k = 0 ... ⌈W/2⌉, zero
/// outside), so tile tx reads E[tx], O[tx], E[tx + 1], O[tx + 1]: every loop runs contiguously
/// over tx. Only the channels in `channels` are transformed (workers split them).
func winogradInputTransform(into v: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, _ band: WinogradBand,
                            channels: Range<Int>) {
    let g = band.tiling
    let (tw, p) = (g.columns, band.count)
    let n = tw + 1
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * n) { lines in
        let split = lines.baseAddress!
        for c in channels {
            let plane = image + c * g.height * g.width
            for r in 0..<band.rows {
                let ty = band.firstRow + r
                for i in 0..<4 {
                    let (e, o) = (split + 2 * i * n, split + (2 * i + 1) * n)
                    let y = 2 * ty - 1 + i
                    guard y >= 0 && y < g.height else {
                        e.update(repeating: 0, count: 2 * n)
                        continue
                    }
                    let line = plane + y * g.width
                    // E[1 ... W/2] and O[0 ... (W − 1)/2] hold pixels; the rest are padding.
                    let (lastE, lastO) = (g.width / 2, (g.width - 1) / 2)
                    e[0] = 0
                    var k = 0
                    while 2 * k + 16 <= g.width {
                        // x[2k ..< 2k + 16]: the even lanes are O[k ..< k + 8], the odd E[k + 1 ... k + 8].
                        let pixels = UnsafeRawPointer(line + 2 * k).loadUnaligned(as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(o + k).storeBytes(of: pixels.evenHalf, as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(e + k + 1).storeBytes(of: pixels.oddHalf, as: SIMD8<Float>.self)
                        k += 8
                    }
                    for k in (k + 1)..<(lastE + 1) { e[k] = line[2 * k - 1] }
                    (e + lastE + 1).update(repeating: 0, count: n - lastE - 1)
                    for k in k..<(lastO + 1) { o[k] = line[2 * k] }
                    (o + lastO + 1).update(repeating: 0, count: n - lastO - 1)
                }
                let stride = g.channels * p
                for i in 0..<4 {
                    // Row i of Bᵀ d: d0 − d2, d1 + d2, d2 − d1, d1 − d3 (d_i = input row i of the tile).
                    let (first, second, sign): (Int, Int, Float) =
                        switch i {
                        case 0: (0, 2, -1)
                        case 1: (1, 2, 1)
                        case 2: (2, 1, -1)
                        default: (1, 3, -1)
                        }
                    let (ea, oa) = (split + 2 * first * n, split + (2 * first + 1) * n)
                    let (eb, ob) = (split + 2 * second * n, split + (2 * second + 1) * n)
                    let out = v + 4 * i * stride + c * p + r * tw
                    var tx = 0
                    while tx + 8 <= tw {
                        let a0 = load8(ea + tx) + sign * load8(eb + tx)
                        let a1 = load8(oa + tx) + sign * load8(ob + tx)
                        let a2 = load8(ea + tx + 1) + sign * load8(eb + tx + 1)
                        let a3 = load8(oa + tx + 1) + sign * load8(ob + tx + 1)
                        store8(a0 - a2, out + tx)
                        store8(a1 + a2, out + stride + tx)
                        store8(a2 - a1, out + 2 * stride + tx)
                        store8(a1 - a3, out + 3 * stride + tx)
                        tx += 8
                    }
                    for tx in tx..<tw {
                        let a0 = ea[tx] + sign * eb[tx], a1 = oa[tx] + sign * ob[tx]
                        let a2 = ea[tx + 1] + sign * eb[tx + 1], a3 = oa[tx + 1] + sign * ob[tx + 1]
                        out[tx] = a0 - a2
                        out[stride + tx] = a1 + a2
                        out[2 * stride + tx] = a2 - a1
                        out[3 * stride + tx] = a1 - a3
                    }
                }
            }
        }
    }
}

/// out[o, 2·ty + a, 2·tx + b] = (Aᵀ M[·][o][t] A)[a][b] + bias[o] for the band's tiles, with
/// Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]; the pixels past an odd H or W are not written.
/// Only the output channels in `outChannels` are written (workers split them).
func winogradOutputTransform(into out: UnsafeMutablePointer<Float>, products m: UnsafePointer<Float>,
                             bias: UnsafePointer<Float>, _ band: WinogradBand, outChannels: Range<Int>) {
    let g = band.tiling
    let (tw, p) = (g.columns, band.count)
    let op = g.outChannels * p
    let fullColumns = g.width / 2
    for o in outChannels {
        let beta = bias[o]
        for r in 0..<band.rows {
            let y = 2 * (band.firstRow + r)
            let mp = m + o * p + r * tw
            let row0 = out + (o * g.height + y) * g.width
            let row1 = row0 + g.width
            let secondRow = y + 1 < g.height
            var tx = 0
            // 8 tiles at a time: even and odd output columns as vectors, then interleaved.
            while tx + 8 <= fullColumns {
                // Column j of Aᵀ M: s0[j] = M0j + M1j + M2j, s1[j] = M1j − M2j − M3j.
                let (a0, b0) = outputColumn(mp + tx, j: 0, op)
                let (a1, b1) = outputColumn(mp + tx, j: 1, op)
                let (a2, b2) = outputColumn(mp + tx, j: 2, op)
                let (a3, b3) = outputColumn(mp + tx, j: 3, op)
                storeInterleaved(a0 + a1 + a2 + beta, a1 - a2 - a3 + beta, row0 + 2 * tx)
                if secondRow { storeInterleaved(b0 + b1 + b2 + beta, b1 - b2 - b3 + beta, row1 + 2 * tx) }
                tx += 8
            }
            for tx in tx..<tw {
                var s0 = SIMD4<Float>(), s1 = SIMD4<Float>()
                for j in 0..<4 {
                    let m0 = mp[j * op + tx], m1 = mp[(4 + j) * op + tx]
                    let m2 = mp[(8 + j) * op + tx], m3 = mp[(12 + j) * op + tx]
                    s0[j] = m0 + m1 + m2
                    s1[j] = m1 - m2 - m3
                }
                row0[2 * tx] = s0[0] + s0[1] + s0[2] + beta
                if secondRow { row1[2 * tx] = s1[0] + s1[1] + s1[2] + beta }
                if tx < fullColumns {
                    row0[2 * tx + 1] = s0[1] - s0[2] - s0[3] + beta
                    if secondRow { row1[2 * tx + 1] = s1[1] - s1[2] - s1[3] + beta }
                }
            }
        }
    }
}

/// (M0j + M1j + M2j, M1j − M2j − M3j) for 8 consecutive tiles, Mij = m[(4·i + j)·op].
@inline(__always)
private func outputColumn(_ m: UnsafePointer<Float>, j: Int, _ op: Int) -> (SIMD8<Float>, SIMD8<Float>) {
    let m0 = load8(m + j * op), m1 = load8(m + (4 + j) * op)
    let m2 = load8(m + (8 + j) * op), m3 = load8(m + (12 + j) * op)
    return (m0 + m1 + m2, m1 - m2 - m3)
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// p[2·l] = even[l], p[2·l + 1] = odd[l] for l in 0..<8.
@inline(__always)
private func storeInterleaved(_ even: SIMD8<Float>, _ odd: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    for l in 0..<8 {
        p[2 * l] = even[l]
        p[2 * l + 1] = odd[l]
    }
}
