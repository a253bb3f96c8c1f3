/// A resampling filter, as PIL defines it (`Image.BOX`, `Image.BILINEAR`, `Image.BICUBIC`).
public enum ResampleFilter: String, Sendable, Equatable, CaseIterable {
    /// Each output pixel averages the input pixels its footprint covers (support 0.5).
    case box
    /// Triangle filter (support 1).
    case bilinear
    /// Keys cubic with a = -0.5 (support 2).
    case bicubic

    /// Half-width of the filter at scale 1, in input pixels.
    var support: Double {
        switch self {
        case .box: 0.5
        case .bilinear: 1
        case .bicubic: 2
        }
    }

    func weight(_ x: Double) -> Double {
        switch self {
        case .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let x = abs(x)
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            let x = abs(x)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// PIL's two-pass convolution resampler for 8-bit images (Pillow `libImaging/Resample.c`),
/// reproduced operation for operation so that results are identical to `Image.resize`:
///
/// - When shrinking, the filter is stretched by the scale (support = filter support x scale),
///   which is what antialiases; when enlarging it is not.
/// - Weights are computed in double precision, normalised to sum 1 per output pixel, then
///   turned into fixed point with 22 fractional bits, rounded half away from zero.
/// - Each pass accumulates integer products starting from 2^21 (rounding), shifts right by 22
///   and clamps to 0...255: the horizontal pass first, stored as 8-bit, then the vertical pass.
///   A pass is skipped when its dimension does not change.
enum Resampler {
    static let precisionBits = 22

    /// Per output position: first input index, number of taps, and `ksize` fixed-point weights.
    struct Coefficients {
        let taps: Int
        var first: [Int]
        var count: [Int]
        var weights: [Int32]
    }

    /// The coefficients of output positions `range` (a window of `0..<outSize`); entry `i`
    /// belongs to position `range.lowerBound + i` and is the same as in a full computation.
    static func coefficients(inSize: Int, outSize: Int, filter: ResampleFilter,
                             range: Range<Int>) -> Coefficients {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var result = Coefficients(taps: taps, first: [Int](repeating: 0, count: range.count),
                                  count: [Int](repeating: 0, count: range.count),
                                  weights: [Int32](repeating: 0, count: range.count * taps))
        var k = [Double](repeating: 0, count: taps)
        let one = Double(1 << precisionBits)
        let inverseScale = 1.0 / filterScale
        for (i, xx) in range.enumerated() {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero, as Int(_: Double) does.
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var sum = 0.0
            for x in 0..<max(xmax, 0) {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * inverseScale)
                k[x] = w
                sum += w
            }
            for x in 0..<max(xmax, 0) {
                let w = sum != 0 ? k[x] / sum : k[x]
                result.weights[i * taps + x] = Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
            }
            result.first[i] = xmin
            result.count[i] = max(xmax, 0)
        }
        return result
    }

    static func clip8(_ value: Int) -> UInt8 {
        let shifted = value >> precisionBits
        return shifted <= 0 ? 0 : shifted >= 255 ? 255 : UInt8(shifted)
    }

    /// The window `columns` x `rows` of the image resized to `width` x `height` (the whole of it
    /// by default). Every output pixel depends only on its own position, so a window is exactly
    /// the crop of the full result, at the cost of the window alone: shortest-side resizing of a
    /// hostile 1 x 100000 image followed by a center crop never builds the 256 x 25600000 image.
    static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter,
                       columns: Range<Int>? = nil, rows: Range<Int>? = nil) -> RGBImage {
        precondition(width > 0 && height > 0, "resize to \(width) x \(height)")
        precondition(image.width > 0 && image.height > 0, "resize of an empty image")
        let columns = columns ?? 0..<width
        let rows = rows ?? 0..<height
        precondition(!columns.isEmpty && !rows.isEmpty && columns.lowerBound >= 0
                     && rows.lowerBound >= 0 && columns.upperBound <= width && rows.upperBound <= height,
                     "window \(columns) x \(rows) outside \(width) x \(height)")
        let sameWidth = width == image.width, sameHeight = height == image.height
        if sameHeight {
            // PIL skips a pass whose dimension does not change.
            if sameWidth {
                return image.crop(x: columns.lowerBound, y: rows.lowerBound,
                                  width: columns.count, height: rows.count)
            }
            return horizontal(image, rows: rows, width: width, columns: columns, filter: filter)
        }
        let vertical = coefficients(inSize: image.height, outSize: height, filter: filter, range: rows)
        // Only the input rows the vertical pass reads (bounds grow with the output index).
        let firstRow = vertical.first[0]
        let lastRow = vertical.first[rows.count - 1] + vertical.count[rows.count - 1]
        let source = sameWidth
            ? image.crop(x: columns.lowerBound, y: firstRow, width: columns.count, height: lastRow - firstRow)
            : horizontal(image, rows: firstRow..<lastRow, width: width, columns: columns, filter: filter)
        return verticalPass(source, rowOffset: firstRow, coefficients: vertical)
    }

    /// Horizontal pass over input `rows`, producing output columns `columns` of `width`.
    private static func horizontal(_ image: RGBImage, rows: Range<Int>, width: Int,
                                   columns: Range<Int>, filter: ResampleFilter) -> RGBImage {
        let c = coefficients(inSize: image.width, outSize: width, filter: filter, range: columns)
        let outWidth = columns.count
        let inStride = image.width * 3
        let input = image.pixels.span
        let weights = c.weights.span
        var out = [UInt8](repeating: 0, count: rows.count * outWidth * 3)
        let half = 1 << (precisionBits - 1)
        var outSpan = out.mutableSpan
        for (outRow, y) in rows.enumerated() {
            let rowBase = y * inStride
            for xx in 0..<outWidth {
                var s0 = half, s1 = half, s2 = half
                let kBase = xx * c.taps
                var p = rowBase + c.first[xx] * 3
                for x in 0..<c.count[xx] {
                    let w = Int(weights[kBase + x])
                    s0 += Int(input[p]) * w
                    s1 += Int(input[p + 1]) * w
                    s2 += Int(input[p + 2]) * w
                    p += 3
                }
                let o = (outRow * outWidth + xx) * 3
                outSpan[o] = clip8(s0)
                outSpan[o + 1] = clip8(s1)
                outSpan[o + 2] = clip8(s2)
            }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    /// Vertical pass: one output row per coefficient entry; `rowOffset` is the input row that
    /// `image`'s first row stands for.
    private static func verticalPass(_ image: RGBImage, rowOffset: Int,
                                     coefficients c: Coefficients) -> RGBImage {
        let height = c.first.count
        let stride = image.width * 3
        let input = image.pixels.span
        var out = [UInt8](repeating: 0, count: height * stride)
        var sumStorage = [Int](repeating: 0, count: stride)
        var sums = sumStorage.mutableSpan
        var outSpan = out.mutableSpan
        let weights = c.weights.span
        let half = 1 << (precisionBits - 1)
        for yy in 0..<height {
            for i in 0..<stride { sums[i] = half }
            let kBase = yy * c.taps
            let first = c.first[yy] - rowOffset
            for y in 0..<c.count[yy] {
                let w = Int(weights[kBase + y])
                let rowBase = (first + y) * stride
                for i in 0..<stride { sums[i] += Int(input[rowBase + i]) * w }
            }
            let outBase = yy * stride
            for i in 0..<stride { outSpan[outBase + i] = clip8(sums[i]) }
        }
        return RGBImage(width: image.width, height: height, pixels: out)
    }
}
