// Winograd F(4×4, 3×3): the transforms of the α = 6 tile (Winograd.swift runs them), with the
// interpolation points 0, ±1, ±2, ∞ of Lavin & Gray:
//
//     G  = [[1/4, 0, 0], [−1/6, −1/6, −1/6], [−1/6, 1/6, −1/6],
//           [1/24, 1/12, 1/6], [1/24, −1/12, 1/6], [0, 0, 1]]
//     Bᵀ = [[4, 0, −5, 0, 1, 0], [0, −4, −4, 1, 1, 0], [0, 4, −4, −1, 1, 0],
//           [0, −2, −1, 2, 1, 0], [0, 2, −1, −2, 1, 0], [0, 4, 0, −5, 0, 1]]
//     Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, −1, 2, −2, 0], [0, 1, 1, 4, 4, 0], [0, 1, −1, 8, −8, 1]]
//
// Every loop runs over 8 neighbouring tiles at once: the transforms are the same for each.

/// G g Gᵀ for one 3×3 kernel g (row-major), handed out as (ξ = 6·i + j, value); in Double so the
/// only rounding is the last.
func winogradKernelF4(_ g: UnsafePointer<Float>, _ store: (Int, Float) -> Void) {
    // t_k = G · (column k of g): lane i is (G g)[i][k].
    let (t0, t1, t2) = (kernelRows(g, column: 0), kernelRows(g, column: 1), kernelRows(g, column: 2))
    // (G g) Gᵀ [i][j] = G_j · (row i of G g) = lane i of c_j, the j-th combination of t0, t1, t2
    // (named, not an array, so nothing is allocated per kernel).
    let (c0, c1, c2) = (t0 / 4, -(t0 + t1 + t2) / 6, -(t0 - t1 + t2) / 6)
    let (c3, c4, c5) = (t0 / 24 + t1 / 12 + t2 / 6, t0 / 24 - t1 / 12 + t2 / 6, t2)
    for i in 0..<6 {
        store(6 * i, Float(c0[i]))
        store(6 * i + 1, Float(c1[i]))
        store(6 * i + 2, Float(c2[i]))
        store(6 * i + 3, Float(c3[i]))
        store(6 * i + 4, Float(c4[i]))
        store(6 * i + 5, Float(c5[i]))
    }
}

/// G · (g[column], g[3 + column], g[6 + column]) in lanes 0..<6.
private func kernelRows(_ g: UnsafePointer<Float>, column: Int) -> SIMD8<Double> {
    let (a, b, c) = (Double(g[column]), Double(g[3 + column]), Double(g[6 + column]))
    return SIMD8(a / 4, -(a + b + c) / 6, -(a - b + c) / 6, a / 24 + b / 12 + c / 6, a / 24 - b / 12 + c / 6, c, 0, 0)
}

/// Bᵀ x for six vectors (each lane a different tile).
@inline(__always)
private func inputRows(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                       _ x4: SIMD8<Float>, _ x5: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    (4 * x0 - 5 * x2 + x4,
     x3 + x4 - 4 * (x1 + x2),
     x4 - x3 + 4 * (x1 - x2),
     x4 - x2 + 2 * (x3 - x1),
     x4 - x2 + 2 * (x1 - x3),
     4 * x1 - 5 * x3 + x5)
}

/// Aᵀ x for six vectors (each lane a different tile).
@inline(__always)
private func outputRows(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>,
                        _ x4: SIMD8<Float>, _ x5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let (sum12, diff12, sum34, diff34) = (x1 + x2, x1 - x2, x3 + x4, x3 - x4)
    return (x0 + sum12 + sum34, diff12 + 2 * diff34, sum12 + 4 * sum34, diff12 + 8 * diff34 + x5)
}

/// V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of the band, d the 6×6 input patch at rows
/// 4·ty − 1 ..< 4·ty + 5, columns 4·tx − 1 ..< 4·tx + 5 (zero outside the image).
///
/// Each input row is split into four phases P_q[k] = x[4k + q − 1] (k = 0 ... ⌈W/4⌉, zero
/// outside), so tile tx reads P0[tx], P1[tx], P2[tx], P3[tx], P0[tx + 1], P1[tx + 1]: every loop
/// runs contiguously over tx. Rows first: T[a][j] = (d[a] B)[j] for the patch's six rows a,
/// then columns: V[6·i + j] = Σ_a Bᵀ[i][a] T[a][j]. Only the channels in `channels` are
/// transformed (workers split them).
func winogradInputTransformF4(into v: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>,
                              _ band: WinogradBand, channels: Range<Int>) {
    let g = band.tiling
    let (tw, p) = (g.columns, band.count)
    // T's rows and the phases are padded to whole vectors of tiles (zeros past the image).
    let padded = (tw + 7) / 8 * 8
    let phaseLength = padded + 1
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * phaseLength + 36 * padded) { buffer in
        let phases = buffer.baseAddress!
        let t = phases + 4 * phaseLength
        phases.update(repeating: 0, count: 4 * phaseLength)
        let stride = g.channels * p
        for c in channels {
            let plane = image + c * g.height * g.width
            for r in 0..<band.rows {
                let ty = band.firstRow + r
                for a in 0..<6 {
                    let rowT = t + 6 * a * padded
                    let y = 4 * ty - 1 + a
                    guard y >= 0 && y < g.height else {
                        rowT.update(repeating: 0, count: 6 * padded)
                        continue
                    }
                    splitPhases(plane + y * g.width, width: g.width, into: phases, length: phaseLength, tiles: tw)
                    let (p0, p1, p2, p3) = (phases, phases + phaseLength, phases + 2 * phaseLength,
                                            phases + 3 * phaseLength)
                    for tx in Swift.stride(from: 0, to: padded, by: 8) {
                        let rows = inputRows(load8(p0 + tx), load8(p1 + tx), load8(p2 + tx), load8(p3 + tx),
                                             load8(p0 + tx + 1), load8(p1 + tx + 1))
                        store8(rows.0, rowT + tx)
                        store8(rows.1, rowT + padded + tx)
                        store8(rows.2, rowT + 2 * padded + tx)
                        store8(rows.3, rowT + 3 * padded + tx)
                        store8(rows.4, rowT + 4 * padded + tx)
                        store8(rows.5, rowT + 5 * padded + tx)
                    }
                }
                for j in 0..<6 {
                    let column = t + j * padded
                    let out = v + j * stride + c * p + r * tw
                    for tx in Swift.stride(from: 0, to: padded, by: 8) {
                        let rows = inputRows(load8(column + tx), load8(column + 6 * padded + tx),
                                             load8(column + 12 * padded + tx), load8(column + 18 * padded + tx),
                                             load8(column + 24 * padded + tx), load8(column + 30 * padded + tx))
                        let lanes = min(8, tw - tx)
                        // Row i of the transformed tile goes to ξ = 6·i + j.
                        storePrefix(rows.0, lanes, out + tx)
                        storePrefix(rows.1, lanes, out + 6 * stride + tx)
                        storePrefix(rows.2, lanes, out + 12 * stride + tx)
                        storePrefix(rows.3, lanes, out + 18 * stride + tx)
                        storePrefix(rows.4, lanes, out + 24 * stride + tx)
                        storePrefix(rows.5, lanes, out + 30 * stride + tx)
                    }
                }
            }
        }
    }
}

/// P_q[k] = x[4k + q − 1] for k in 0 ... tiles, zero outside 0 ..< width; entries past `tiles`
/// stay as they are (zero).
private func splitPhases(_ x: UnsafePointer<Float>, width: Int, into phases: UnsafeMutablePointer<Float>,
                         length: Int, tiles: Int) {
    let (p0, p1, p2, p3) = (phases, phases + length, phases + 2 * length, phases + 3 * length)
    p0[0] = 0
    var k = 0
    while 4 * k + 32 <= width {
        // x[4k ..< 4k + 32]: lanes 4l + q are P_{q+1}[k + l] for q < 3, lanes 4l + 3 are P0[k + 1 + l].
        let pixels = UnsafeRawPointer(x + 4 * k).loadUnaligned(as: SIMD32<Float>.self)
        let (even, odd) = (pixels.evenHalf, pixels.oddHalf)
        store8(even.evenHalf, p1 + k)
        store8(odd.evenHalf, p2 + k)
        store8(even.oddHalf, p3 + k)
        store8(odd.oddHalf, p0 + k + 1)
        k += 8
    }
    @inline(__always) func pixel(_ i: Int) -> Float { i >= 0 && i < width ? x[i] : 0 }
    for k in k...tiles {
        p0[k] = pixel(4 * k - 1)
        p1[k] = pixel(4 * k)
        p2[k] = pixel(4 * k + 1)
        p3[k] = pixel(4 * k + 2)
    }
}

/// The first `lanes` lanes of `v` to p.
@inline(__always)
private func storePrefix(_ v: SIMD8<Float>, _ lanes: Int, _ p: UnsafeMutablePointer<Float>) {
    if lanes == 8 {
        store8(v, p)
    } else {
        for l in 0..<lanes { p[l] = v[l] }
    }
}

/// out[o, 4·ty + i, 4·tx + j] = (Aᵀ M[·][o][t] A)[i][j] + bias[o] for the band's tiles; the
/// pixels past H or W (where 4 ∤ H or W) are not written. Only the output channels in
/// `outChannels` are written (workers split them).
func winogradOutputTransformF4(into out: UnsafeMutablePointer<Float>, products m: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>, _ band: WinogradBand, outChannels: Range<Int>) {
    let g = band.tiling
    let (tw, p) = (g.columns, band.count)
    let op = g.outChannels * p
    // Tiles whose four columns all lie inside the image.
    let fullTiles = g.width / 4
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 36 * 8 + 4 * 32) { buffer in
        // The last tiles of a row (fewer than 8, or cut by the image's edge) go through here.
        let gathered = buffer.baseAddress!
        let block = gathered + 36 * 8
        for o in outChannels {
            let beta = bias[o]
            for r in 0..<band.rows {
                let y = 4 * (band.firstRow + r)
                let rows = min(4, g.height - y)
                let mp = m + o * p + r * tw
                let target = out + (o * g.height + y) * g.width
                var tx = 0
                while tx + 8 <= fullTiles {
                    outputBlock(mp + tx, stride: op, bias: beta, into: target + 4 * tx, rowStride: g.width, rows: rows)
                    tx += 8
                }
                guard tx < tw else { continue }
                let count = tw - tx
                for xi in 0..<36 {
                    let source = mp + xi * op + tx
                    for l in 0..<8 { gathered[xi * 8 + l] = l < count ? source[l] : 0 }
                }
                outputBlock(gathered, stride: 8, bias: beta, into: block, rowStride: 32, rows: rows)
                let columns = g.width - 4 * tx
                for i in 0..<rows {
                    (target + i * g.width + 4 * tx).update(from: block + 32 * i, count: columns)
                }
            }
        }
    }
}

/// The 4×4 outputs of 8 neighbouring tiles, M[ξ] at m + ξ·stride: `rows` rows of 32 values.
@inline(__always)
private func outputBlock(_ m: UnsafePointer<Float>, stride: Int, bias: Float, into out: UnsafeMutablePointer<Float>,
                         rowStride: Int, rows: Int) {
    // Z[a] = Aᵀ M[a][·] for each row a of the tile, then Y[·][j] = Aᵀ Z[·][j].
    @inline(__always) func z(_ a: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let row = m + 6 * a * stride
        return outputRows(load8(row), load8(row + stride), load8(row + 2 * stride), load8(row + 3 * stride),
                          load8(row + 4 * stride), load8(row + 5 * stride))
    }
    let (z0, z1, z2, z3, z4, z5) = (z(0), z(1), z(2), z(3), z(4), z(5))
    let beta = SIMD8<Float>(repeating: bias)
    let c0 = outputRows(z0.0, z1.0, z2.0, z3.0, z4.0, z5.0)
    let c1 = outputRows(z0.1, z1.1, z2.1, z3.1, z4.1, z5.1)
    let c2 = outputRows(z0.2, z1.2, z2.2, z3.2, z4.2, z5.2)
    let c3 = outputRows(z0.3, z1.3, z2.3, z3.3, z4.3, z5.3)
    storeInterleaved(c0.0 + beta, c1.0 + beta, c2.0 + beta, c3.0 + beta, out)
    if rows > 1 { storeInterleaved(c0.1 + beta, c1.1 + beta, c2.1 + beta, c3.1 + beta, out + rowStride) }
    if rows > 2 { storeInterleaved(c0.2 + beta, c1.2 + beta, c2.2 + beta, c3.2 + beta, out + 2 * rowStride) }
    if rows > 3 { storeInterleaved(c0.3 + beta, c1.3 + beta, c2.3 + beta, c3.3 + beta, out + 3 * rowStride) }
}

/// p[4·l + j] = column j's lane l, for the 8 tiles of a row: built as two vectors so that the
/// compiler interleaves with shuffles instead of 32 single stores.
@inline(__always)
private func storeInterleaved(_ c0: SIMD8<Float>, _ c1: SIMD8<Float>, _ c2: SIMD8<Float>, _ c3: SIMD8<Float>,
                              _ p: UnsafeMutablePointer<Float>) {
    let first = SIMD16<Float>(c0[0], c1[0], c2[0], c3[0], c0[1], c1[1], c2[1], c3[1],
                              c0[2], c1[2], c2[2], c3[2], c0[3], c1[3], c2[3], c3[3])
    let second = SIMD16<Float>(c0[4], c1[4], c2[4], c3[4], c0[5], c1[5], c2[5], c3[5],
                               c0[6], c1[6], c2[6], c3[6], c0[7], c1[7], c2[7], c3[7])
    UnsafeMutableRawPointer(p).storeBytes(of: first, as: SIMD16<Float>.self)
    UnsafeMutableRawPointer(p + 16).storeBytes(of: second, as: SIMD16<Float>.self)
}
