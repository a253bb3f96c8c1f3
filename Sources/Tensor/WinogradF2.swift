// Winograd F(2×2, 3×3): the transforms of the α = 4 tile (Winograd.swift runs them).

/// G g Gᵀ for one 3×3 kernel g (row-major), handed out as (ξ = 4·i + j, value); in Double so the
/// only rounding is the last.
func winogradKernelF2(_ g: UnsafePointer<Float>, _ store: (Int, Float) -> Void) {
    // G g: 4×3, rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 of the kernel's rows.
    // t(column) = that column of G g; no array, so nothing is allocated per kernel.
    func t(_ column: Int) -> SIMD4<Double> {
        let (g0, g1, g2) = (Double(g[column]), Double(g[3 + column]), Double(g[6 + column]))
        return SIMD4(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
    }
    let (t0, t1, t2) = (t(0), t(1), t(2))
    // (G g) Gᵀ: the same combination across columns.
    let columns = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
    for i in 0..<4 {
        store(4 * i, Float(columns.0[i]))
        store(4 * i + 1, Float(columns.1[i]))
        store(4 * i + 2, Float(columns.2[i]))
        store(4 * i + 3, Float(columns.3[i]))
    }
}

/// V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of the band, d the 4×4 input patch at rows
/// 2·ty − 1 ..< 2·ty + 3, columns 2·tx − 1 ..< 2·tx + 3 (zero outside the image), with
/// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
///
/// Each input row is split into E[k] = x[2k − 1] and O[k] = x[2k] (k = 0 ... ⌈W/2⌉, zero
/// outside), so tile tx reads E[tx], O[tx], E[tx + 1], O[tx + 1]: every loop runs contiguously
/// over tx. Only the channels in `channels` are transformed (workers split them).
func winogradInputTransformF2(into v: UnsafeMutablePointer<Float>, image: UnsafePointer<Float>, _ band: WinogradBand,
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
func winogradOutputTransformF2(into out: UnsafeMutablePointer<Float>, products m: UnsafePointer<Float>,
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

/// p[2·l] = even[l], p[2·l + 1] = odd[l] for l in 0..<8.
@inline(__always)
private func storeInterleaved(_ even: SIMD8<Float>, _ odd: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    for l in 0..<8 {
        p[2 * l] = even[l]
        p[2 * l + 1] = odd[l]
    }
}
