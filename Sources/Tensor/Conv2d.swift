/// Zero padding on each side of the spatial dimensions of a convolution input.
public struct Padding2D: Sendable, Equatable {
    public var top, bottom, left, right: Int

    public init(top: Int, bottom: Int, left: Int, right: Int) {
        precondition(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, "negative padding")
        self.top = top
        self.bottom = bottom
        self.left = left
        self.right = right
    }

    /// The same padding `p` on all four sides (PyTorch's `padding=p`).
    public static func symmetric(_ p: Int) -> Padding2D { Padding2D(top: p, bottom: p, left: p, right: p) }

    public static let zero = Padding2D.symmetric(0)

    /// taming's Downsample: `F.pad(x, (0, 1, 0, 1))`, one zero column right, one zero row below.
    public static let rightBottom = Padding2D(top: 0, bottom: 1, left: 0, right: 1)
}

/// Output side length of a convolution along one axis.
@inline(__always)
func convOutputSize(_ size: Int, kernel: Int, stride: Int, padBefore: Int, padAfter: Int) -> Int {
    (size + padBefore + padAfter - kernel) / stride + 1
}

/// 2-D convolution (cross-correlation, as PyTorch's Conv2d), im2col + sgemm.
///
///     input  [B, C, H, W]
///     weight [O, C, kh, kw]          (PyTorch layout; read as the matrix [O, C·kh·kw])
///     bias   [O] or nil
///     out    [B, O, Ho, Wo]          Ho = (H + top + bottom − kh) / stride + 1, likewise Wo
///
/// A 1×1 stride-1 unpadded convolution is one GEMM per image on the input itself. Otherwise
/// bands of output rows are unfolded into `columns` ([C·kh·kw, rows·Wo] per worker, grown on
/// demand and reused across calls) so that the scratch stays a few MiB whatever the image size.
public func conv2d(_ out: inout Tensor, _ input: Tensor, weight: Tensor, bias: Tensor?,
                   stride: Int = 1, padding: Padding2D = .zero, columns: inout [Float]) {
    conv2d(&out, input, weight: weight, bias: bias, stride: stride, padding: padding, columns: &columns,
           workers: Parallel.workers)
}

/// `conv2d` on `workers` workers. The bands of every image are the tasks: when an image has
/// enough of them each worker unfolds and multiplies whole bands on its own slice of `columns`;
/// with few (and for 1×1) each band's sgemm is split by output channels (`bandsPerWorker`).
func conv2d(_ out: inout Tensor, _ input: Tensor, weight: Tensor, bias: Tensor?,
            stride: Int, padding: Padding2D, columns: inout [Float], workers: Int) {
    precondition(input.shape.count == 4 && weight.shape.count == 4, "conv2d wants NCHW input and OIHW weight")
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outChannels, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] == channels, "conv2d: weight \(weight.shape) does not fit input \(input.shape)")
    precondition(bias == nil || bias!.shape == [outChannels], "conv2d: bias must be [\(outChannels)]")
    precondition(stride >= 1, "conv2d: stride must be positive")
    let outHeight = convOutputSize(height, kernel: kh, stride: stride, padBefore: padding.top, padAfter: padding.bottom)
    let outWidth = convOutputSize(width, kernel: kw, stride: stride, padBefore: padding.left, padAfter: padding.right)
    precondition(outHeight > 0 && outWidth > 0, "conv2d: input \(input.shape) too small for the kernel")
    out.resize(to: [batch, outChannels, outHeight, outWidth])

    let k = channels * kh * kw
    let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == .zero
    // Output rows per band: the unfolded band stays near 4 MiB (1 Mi floats).
    let bandRows = pointwise ? outHeight : max(1, min(outHeight, (1 << 20) / max(1, k * outWidth)))
    let bandsPerImage = (outHeight + bandRows - 1) / bandRows
    let tasks = batch * bandsPerImage
    let bandPerWorker = bandsPerWorker(bandsPerImage, workers: workers)
    let slotFloats = pointwise ? 0 : k * bandRows * outWidth
    let slots = bandPerWorker ? min(workers, tasks) : 1
    if columns.count < slots * slotFloats {
        columns.append(contentsOf: repeatElement(0, count: slots * slotFloats - columns.count))
    }
    let geometry = ConvGeometry(channels: channels, height: height, width: width, kh: kh, kw: kw,
                                stride: stride, top: padding.top, left: padding.left,
                                outChannels: outChannels, outHeight: outHeight, outWidth: outWidth)

    input.storage.withUnsafeBufferPointer { inBuf in
        weight.storage.withUnsafeBufferPointer { wBuf in
            out.storage.withUnsafeMutableBufferPointer { outBuf in
                columns.withUnsafeMutableBufferPointer { colBuf in
                    let job = Im2colJob(input: SharedConstPointer(inBuf.baseAddress!),
                                        weight: SharedConstPointer(wBuf.baseAddress!),
                                        out: SharedPointer(outBuf.baseAddress!),
                                        columns: SharedPointer(colBuf.baseAddress ?? outBuf.baseAddress!),
                                        geometry: geometry, pointwise: pointwise, bandRows: bandRows,
                                        bandsPerImage: bandsPerImage, slotFloats: slotFloats)
                    if bandPerWorker {
                        Parallel.forTasks(tasks, workers: workers) { task, worker in
                            job.unfold(task, slot: worker, channels: 0..<channels)
                            job.multiply(task, slot: worker, outChannels: 0..<outChannels)
                        }
                    } else {
                        for task in 0..<tasks {
                            Parallel.forChunks(channels, minimumChunk: max(1, (1 << 14) / max(1, k * bandRows * outWidth / channels)),
                                               workers: workers) { job.unfold(task, slot: 0, channels: $0) }
                            let parts = Parallel.ranges(outChannels, parts: workers, align: 16)
                            Parallel.forTasks(parts.count, workers: workers) { part, _ in
                                job.multiply(task, slot: 0, outChannels: parts[part])
                            }
                        }
                    }
                }
            }
        }
    }
    if let bias { addChannelBias(&out, bias) }
}

struct ConvGeometry: Sendable {
    var channels, height, width, kh, kw, stride, top, left, outChannels, outHeight, outWidth: Int
}

/// One im2col convolution's buffers, shared by its workers; a task is one band of output rows
/// of one image, unfolded into scratch slot `slot` of `columns` (1×1: the image itself).
private struct Im2colJob: Sendable {
    let input: SharedConstPointer<Float>
    let weight: SharedConstPointer<Float>
    let out: SharedPointer<Float>
    let columns: SharedPointer<Float>
    let geometry: ConvGeometry
    let pointwise: Bool
    let bandRows, bandsPerImage, slotFloats: Int

    private func band(_ task: Int) -> (image: Int, firstRow: Int, rows: Int) {
        let firstRow = (task % bandsPerImage) * bandRows
        return (task / bandsPerImage, firstRow, min(bandRows, geometry.outHeight - firstRow))
    }

    /// Unfolds `channels` of band `task` into slot `slot` (nothing for 1×1).
    func unfold(_ task: Int, slot: Int, channels: Range<Int>) {
        guard !pointwise else { return }
        let g = geometry
        let (b, firstRow, rows) = band(task)
        unfoldBand(into: columns.base + slot * slotFloats, image: input.base + b * g.channels * g.height * g.width,
                   firstRow: firstRow, rows: rows, channels: channels, g)
    }

    /// out rows `outChannels` of band `task` = weight rows `outChannels` · the band's columns.
    func multiply(_ task: Int, slot: Int, outChannels: Range<Int>) {
        let g = geometry
        let (b, firstRow, rows) = band(task)
        let k = g.channels * g.kh * g.kw
        let n = rows * g.outWidth
        let outPlane = g.outHeight * g.outWidth
        let image = input.base + b * g.channels * g.height * g.width
        guard !outChannels.isEmpty else { return }
        BLAS.sgemm(m: outChannels.count, n: n, k: k, a: weight.base + outChannels.lowerBound * k, lda: k,
                   b: pointwise ? image : UnsafePointer(columns.base + slot * slotFloats), ldb: pointwise ? outPlane : n,
                   c: out.base + (b * g.outChannels + outChannels.lowerBound) * outPlane + firstRow * g.outWidth,
                   ldc: outPlane)
    }
}

/// im2col for output rows firstRow..<firstRow+rows of one image, for the channels in `channels`:
/// columns[(c·kh + ky)·kw + kx][r·Wo + ox] = image[c, (firstRow+r)·s − top + ky, ox·s − left + kx] (0 outside).
private func unfoldBand(into columns: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
                        firstRow: Int, rows: Int, channels: Range<Int>, _ g: ConvGeometry) {
    let n = rows * g.outWidth
    for c in channels {
        let plane = image + c * g.height * g.width
        for ky in 0..<g.kh {
            for kx in 0..<g.kw {
                var column = columns + ((c * g.kh + ky) * g.kw + kx) * n
                for r in 0..<rows {
                    let y = (firstRow + r) * g.stride - g.top + ky
                    if y < 0 || y >= g.height {
                        column.update(repeating: 0, count: g.outWidth)
                    } else if g.stride == 1 {
                        // Contiguous: copy the valid span, zero the padding on either side.
                        let line = plane + y * g.width
                        let shift = kx - g.left
                        let first = min(g.outWidth, max(0, -shift))
                        let last = max(first, min(g.outWidth, g.width - shift))
                        column.update(repeating: 0, count: first)
                        (column + first).update(from: line + first + shift, count: last - first)
                        (column + last).update(repeating: 0, count: g.outWidth - last)
                    } else {
                        let line = plane + y * g.width
                        var x = kx - g.left
                        for ox in 0..<g.outWidth {
                            column[ox] = (x >= 0 && x < g.width) ? line[x] : 0
                            x += g.stride
                        }
                    }
                    column += g.outWidth
                }
            }
        }
    }
}

/// x[b, c, ...] += bias[c] for x [B, C, ...]; the planes are spread over the workers.
func addChannelBias(_ x: inout Tensor, _ bias: Tensor) {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.count / max(1, batch * channels)
    bias.storage.withUnsafeBufferPointer { biasBuf in
        x.storage.withUnsafeMutableBufferPointer { xBuf in
            let shift = SharedConstPointer(biasBuf.baseAddress!)
            let values = SharedPointer(xBuf.baseAddress!)
            Parallel.forChunks(batch * channels, minimumChunk: max(1, (1 << 16) / max(1, plane))) { planes in
                for bc in planes {
                    let value = shift.base[bc % channels]
                    let row = values.base + bc * plane
                    for i in 0..<plane { row[i] += value }
                }
            }
        }
    }
}

/// Naive 2-D convolution, same contract as `conv2d`; the reference the fast one is tested against.
/// Accumulates in Double.
public func conv2dReference(_ input: Tensor, weight: Tensor, bias: Tensor?,
                            stride: Int = 1, padding: Padding2D = .zero) -> Tensor {
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outChannels, kh, kw) = (weight.shape[0], weight.shape[2], weight.shape[3])
    precondition(weight.shape[1] == channels, "conv2dReference: weight does not fit input")
    let outHeight = convOutputSize(height, kernel: kh, stride: stride, padBefore: padding.top, padAfter: padding.bottom)
    let outWidth = convOutputSize(width, kernel: kw, stride: stride, padBefore: padding.left, padAfter: padding.right)
    var out = Tensor(zeros: [batch, outChannels, outHeight, outWidth])
    for b in 0..<batch {
        for o in 0..<outChannels {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var sum = Double(bias?.storage[o] ?? 0)
                    for c in 0..<channels {
                        for ky in 0..<kh {
                            let y = oy * stride - padding.top + ky
                            guard y >= 0 && y < height else { continue }
                            for kx in 0..<kw {
                                let x = ox * stride - padding.left + kx
                                guard x >= 0 && x < width else { continue }
                                let pixel = input.storage[((b * channels + c) * height + y) * width + x]
                                let tap = weight.storage[((o * channels + c) * kh + ky) * kw + kx]
                                sum += Double(pixel) * Double(tap)
                            }
                        }
                    }
                    out.storage[((b * outChannels + o) * outHeight + oy) * outWidth + ox] = Float(sum)
                }
            }
        }
    }
    return out
}
