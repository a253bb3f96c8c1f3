/// Which Winograd algorithm a 3×3 convolution runs: F(m×m, 3×3) computes m×m outputs from one
/// α×α input tile, α = m + 2, with α² multiplications per input channel instead of 9·m².
///
/// - `f2x2`: F(2×2, 3×3), α = 4: 16 products per 4 outputs (2.25× fewer than direct), exact
///   transforms (0, ±1), errors at float rounding.
/// - `f4x4`: F(4×4, 3×3), α = 6: 36 products per 16 outputs (4× fewer), transforms with
///   coefficients up to 8 and 1/24, errors a few times larger (still ~1e-6 of the output's scale).
///   Its transformed weights are 36/9 = 4× the originals' size (F(2×2): 16/9).
public enum WinogradTile: Int, Sendable, CaseIterable {
    case f2x2 = 2
    case f4x4 = 4

    /// m: outputs per tile side.
    public var outputSide: Int { rawValue }
    /// α = m + 2: inputs per tile side.
    public var inputSide: Int { rawValue + 2 }
    /// α²: the sgemms per band, one per point of the transformed tile.
    public var points: Int { inputSide * inputSide }

    /// The tile for a layer of these channels. F(4×4) saves the most where images are large and
    /// channels few: there the transforms, not the sgemms, limit F(2×2). The encoder and decoder
    /// pyramids widen their channels as the image shrinks, so the layers of at most 256 × 256
    /// channels take F(4×4); the wide ones (512 × 512 at 16×16) keep F(2×2), where F(4×4)
    /// would store 4× weights of 9 MB each to save little on a few small tiles.
    public static func preferred(inChannels: Int, outChannels: Int) -> WinogradTile {
        inChannels * outChannels <= 256 * 256 ? .f4x4 : .f2x2
    }
}

extension WinogradTile {
    /// G g Gᵀ of one 3×3 kernel g (row-major), handed out as (ξ, value) for ξ in 0..<α².
    func transformKernel(_ g: UnsafePointer<Float>, _ store: (Int, Float) -> Void) {
        switch self {
        case .f2x2: winogradKernelF2(g, store)
        case .f4x4: winogradKernelF4(g, store)
        }
    }
}

/// The weights of a 3×3 convolution transformed for Winograd, once, at load:
///
///     weight      [O, C, 3, 3]       (PyTorch layout)
///     transformed [α², O, C]         U[ξ][o][c] = (G g Gᵀ)[ξ] for g = weight[o, c], ξ = α·i + j
///
/// with the G of `tile` (WinogradF2.swift, WinogradF4.swift).
public struct Conv3x3Winograd: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    public let tile: WinogradTile
    let transformed: [Float]

    public init(weight: Tensor, tile: WinogradTile = .f2x2) {
        precondition(weight.shape.count == 4 && weight.shape[2] == 3 && weight.shape[3] == 3,
                     "Conv3x3Winograd wants a [O, C, 3, 3] weight, got \(weight.shape)")
        let (o, c) = (weight.shape[0], weight.shape[1])
        outChannels = o
        inChannels = c
        self.tile = tile
        let kernels = o * c
        let points = tile.points
        transformed = [Float](unsafeUninitializedCapacity: points * kernels) { u, initialized in
            weight.storage.withUnsafeBufferPointer { w in
                // Blocks of 256 kernels transformed into a small buffer, then copied plane by
                // plane: contiguous writes instead of α² interleaved streams. The blocks are
                // spread over the workers (this runs once per layer at load).
                let block = 256
                let (src, dst) = (SharedConstPointer(w.baseAddress!), SharedPointer(u.baseAddress!))
                Parallel.forChunks((kernels + block - 1) / block, minimumChunk: 16) { blocks in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: points * block) { buffer in
                        for index in blocks {
                            let first = index * block
                            let count = min(block, kernels - first)
                            for k in 0..<count {
                                tile.transformKernel(src.base + (first + k) * 9) { xi, value in
                                    buffer[xi * block + k] = value
                                }
                            }
                            for xi in 0..<points {
                                (dst.base + xi * kernels + first).update(from: buffer.baseAddress! + xi * block, count: count)
                            }
                        }
                    }
                }
            }
            initialized = points * kernels
        }
    }
}

/// 3×3 convolution, stride 1, zero padding 1 on every side, by Winograd F(m×m, 3×3).
///
///     input  [B, C, H, W]   (any H, W ≥ 1: the last tile row / column is cut where m ∤ H or W)
///     weight Conv3x3Winograd of a [O, C, 3, 3] weight, for tile m
///     bias   [O] or nil
///     out    [B, O, H, W]
///
/// The image is cut into m×m output tiles, ⌈H/m⌉ × ⌈W/m⌉, processed in bands of whole tile rows.
/// Per band: V = Bᵀ d B for every α×α input tile d ([α², C, tiles]), α² sgemms
/// M[ξ] = U[ξ]·V[ξ] ([O×C]·[C×tiles]) and Y = Aᵀ M A (+ bias) into the output: α²
/// multiply-adds per m×m outputs and input channel instead of im2col's 9·m². `scratch` holds
/// V and M for one band per worker (about 2 MiB each, grown on demand and reused across calls):
/// small enough to stay in cache between the transforms and the sgemms (4× larger bands
/// ran 10–15 % slower at 128 and 256 channels).
public func conv3x3Winograd(_ out: inout Tensor, _ input: Tensor, weight: Conv3x3Winograd, bias: Tensor?,
                            scratch: inout [Float]) {
    conv3x3Winograd(&out, input, weight: weight, bias: bias, scratch: &scratch, bandFloats: 1 << 19)
}

/// `conv3x3Winograd` with V and M of one band near `bandFloats` floats (tests use small bands)
/// on `workers` workers.
///
/// The bands of every image are the tasks. When an image has enough of them, each worker takes
/// whole bands, one after another, on its own V and M (its single-threaded sgemms pack only
/// what they use); otherwise (a small image: one or two bands) each band is split: the input
/// transform over channels, then the sgemms and the output transform over output channels
/// (`bandsPerWorker`).
func conv3x3Winograd(_ out: inout Tensor, _ input: Tensor, weight: Conv3x3Winograd, bias: Tensor?,
                     scratch: inout [Float], bandFloats: Int, workers: Int = Parallel.workers) {
    precondition(input.shape.count == 4, "conv3x3Winograd wants NCHW input")
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let outChannels = weight.outChannels
    precondition(weight.inChannels == channels, "conv3x3Winograd: weight \(weight.inChannels) channels, input \(input.shape)")
    precondition(bias == nil || bias!.shape == [outChannels], "conv3x3Winograd: bias must be [\(outChannels)]")
    out.resize(to: [batch, outChannels, height, width])
    guard batch > 0 && height > 0 && width > 0 && outChannels > 0 else { return }

    let tiles = WinogradTiling(tile: weight.tile, channels: channels, outChannels: outChannels,
                               height: height, width: width, bandFloats: bandFloats)
    let bandsPerImage = (tiles.rows + tiles.bandRows - 1) / tiles.bandRows
    let tasks = batch * bandsPerImage
    let bandPerWorker = bandsPerWorker(bandsPerImage, workers: workers)
    let slots = bandPerWorker ? min(workers, tasks) : 1
    let slotFloats = weight.tile.points * (channels + outChannels) * tiles.perBand
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
/// Scratch slot s holds V [α², C, perBand] and then M [α², O, perBand] for the band its worker runs.
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
    private func m(_ slot: Int) -> UnsafeMutablePointer<Float> {
        v(slot) + tiling.tile.points * tiling.channels * tiling.perBand
    }

    /// The whole band `task` (or the given channel ranges of it) in scratch slot `slot`, on this thread.
    func run(_ task: Int, slot: Int, channels: Range<Int>, outChannels: Range<Int>) {
        let (b, band) = band(task)
        inputTransform(into: v(slot), image: image(b), band, channels: channels)
        winogradProducts(into: m(slot), u: u.base, v: v(slot), band, outChannels: outChannels)
        outputTransform(into: result(b), products: m(slot), band, outChannels: outChannels)
    }

    /// Band `task` split over `workers`: V by channels, then M and the output by output channels.
    func runSplit(_ task: Int, workers: Int) {
        let (b, band) = band(task)
        let p = band.count
        Parallel.forChunks(tiling.channels, minimumChunk: max(1, (1 << 14) / max(1, tiling.tile.points * p)),
                           workers: workers) {
            inputTransform(into: v(0), image: image(b), band, channels: $0)
        }
        // Multiples of 16 output channels per worker, so that each sgemm keeps whole register tiles.
        let parts = Parallel.ranges(tiling.outChannels, parts: workers, align: 16)
        Parallel.forTasks(parts.count, workers: workers) { part, _ in
            winogradProducts(into: m(0), u: u.base, v: v(0), band, outChannels: parts[part])
            outputTransform(into: result(b), products: m(0), band, outChannels: parts[part])
        }
    }

    private func inputTransform(into v: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
                                _ band: WinogradBand, channels: Range<Int>) {
        switch tiling.tile {
        case .f2x2: winogradInputTransformF2(into: v, image: image, band, channels: channels)
        case .f4x4: winogradInputTransformF4(into: v, image: image, band, channels: channels)
        }
    }

    private func outputTransform(into out: UnsafeMutablePointer<Float>, products m: UnsafePointer<Float>,
                                 _ band: WinogradBand, outChannels: Range<Int>) {
        switch tiling.tile {
        case .f2x2: winogradOutputTransformF2(into: out, products: m, bias: bias.base, band, outChannels: outChannels)
        case .f4x4: winogradOutputTransformF4(into: out, products: m, bias: bias.base, band, outChannels: outChannels)
        }
    }
}

/// M[ξ][o][t] = Σ_c U[ξ][o][c] · V[ξ][c][t] for o in `outChannels`, every ξ and tile t of the band:
/// α² sgemms [o×C]·[C×tiles].
func winogradProducts(into m: UnsafeMutablePointer<Float>, u: UnsafePointer<Float>, v: UnsafePointer<Float>,
                      _ band: WinogradBand, outChannels: Range<Int>) {
    let g = band.tiling
    let p = band.count
    guard !outChannels.isEmpty else { return }
    for xi in 0..<g.tile.points {
        BLAS.sgemm(m: outChannels.count, n: p, k: g.channels,
                   a: u + (xi * g.outChannels + outChannels.lowerBound) * g.channels, lda: g.channels,
                   b: v + xi * g.channels * p, ldb: p,
                   c: m + (xi * g.outChannels + outChannels.lowerBound) * p, ldc: p)
    }
}

/// How an image is cut into m×m output tiles and bands of tile rows.
struct WinogradTiling: Sendable {
    var tile: WinogradTile
    var channels, outChannels, height, width: Int
    /// Tile rows ⌈H/m⌉, tiles per row ⌈W/m⌉, tile rows per band, tiles per full band.
    var rows, columns, bandRows, perBand: Int

    init(tile: WinogradTile, channels: Int, outChannels: Int, height: Int, width: Int, bandFloats: Int) {
        self.tile = tile
        (self.channels, self.outChannels, self.height, self.width) = (channels, outChannels, height, width)
        rows = (height + tile.outputSide - 1) / tile.outputSide
        columns = (width + tile.outputSide - 1) / tile.outputSide
        // V and M of one band near `bandFloats`, but at least ~64 tiles so the sgemms stay wide
        // (tests pass a tiny budget to get several bands from a small image).
        let minimumTiles = bandFloats >= 1 << 19 ? 64 : 1
        let budgetTiles = max(minimumTiles, bandFloats / (tile.points * (channels + outChannels)))
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

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
