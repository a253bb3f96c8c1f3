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
/// bands of output rows are unfolded into `columns` ([C·kh·kw, rows·Wo], grown on demand and
/// reused across calls) so that the scratch stays a few MiB whatever the image size.
public func conv2d(_ out: inout Tensor, _ input: Tensor, weight: Tensor, bias: Tensor?,
                   stride: Int = 1, padding: Padding2D = .zero, columns: inout [Float]) {
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
    let outPlane = outHeight * outWidth
    let pointwise = kh == 1 && kw == 1 && stride == 1 && padding == .zero

    // Output rows per band: the unfolded band stays near 4 MiB (1 Mi floats).
    let bandRows = pointwise ? outHeight : max(1, min(outHeight, (1 << 20) / max(1, k * outWidth)))
    if !pointwise, columns.count < k * bandRows * outWidth {
        columns.append(contentsOf: repeatElement(0, count: k * bandRows * outWidth - columns.count))
    }
    let geometry = ConvGeometry(channels: channels, height: height, width: width, kh: kh, kw: kw,
                                stride: stride, top: padding.top, left: padding.left, outWidth: outWidth)

    input.storage.withUnsafeBufferPointer { inBuf in
        weight.storage.withUnsafeBufferPointer { wBuf in
            out.storage.withUnsafeMutableBufferPointer { outBuf in
                columns.withUnsafeMutableBufferPointer { colBuf in
                    for b in 0..<batch {
                        let image = inBuf.baseAddress! + b * channels * height * width
                        let result = outBuf.baseAddress! + b * outChannels * outPlane
                        if pointwise {
                            BLAS.sgemm(m: outChannels, n: outPlane, k: k, a: wBuf.baseAddress!, lda: k,
                                       b: image, ldb: outPlane, c: result, ldc: outPlane)
                            continue
                        }
                        var row = 0
                        while row < outHeight {
                            let rows = min(bandRows, outHeight - row)
                            let n = rows * outWidth
                            unfoldBand(into: colBuf.baseAddress!, image: image, firstRow: row, rows: rows, geometry)
                            BLAS.sgemm(m: outChannels, n: n, k: k, a: wBuf.baseAddress!, lda: k,
                                       b: colBuf.baseAddress!, ldb: n,
                                       c: result + row * outWidth, ldc: outPlane)
                            row += rows
                        }
                    }
                }
            }
        }
    }
    if let bias { addChannelBias(&out, bias) }
}

struct ConvGeometry: Sendable {
    var channels, height, width, kh, kw, stride, top, left, outWidth: Int
}

/// im2col for output rows firstRow..<firstRow+rows of one image:
/// columns[(c·kh + ky)·kw + kx][r·Wo + ox] = image[c, (firstRow+r)·s − top + ky, ox·s − left + kx] (0 outside).
private func unfoldBand(into columns: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
                        firstRow: Int, rows: Int, _ g: ConvGeometry) {
    let n = rows * g.outWidth
    let dst = SharedPointer(columns)
    let src = SharedConstPointer(image)
    Parallel.forChunks(g.channels, minimumChunk: max(1, (1 << 14) / max(1, n * g.kh * g.kw))) { channelRange in
        for c in channelRange {
            let plane = src.base + c * g.height * g.width
            for ky in 0..<g.kh {
                for kx in 0..<g.kw {
                    var column = dst.base + ((c * g.kh + ky) * g.kw + kx) * n
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
}

/// x[b, c, ...] += bias[c] for x [B, C, ...].
func addChannelBias(_ x: inout Tensor, _ bias: Tensor) {
    let (batch, channels) = (x.shape[0], x.shape[1])
    let plane = x.count / max(1, batch * channels)
    bias.storage.withUnsafeBufferPointer { biasBuf in
        x.storage.withUnsafeMutableBufferPointer { xBuf in
            for b in 0..<batch {
                for c in 0..<channels {
                    let value = biasBuf[c]
                    let row = xBuf.baseAddress! + (b * channels + c) * plane
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
