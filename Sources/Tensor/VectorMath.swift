/// e^x for 16 lanes at once, x clamped to [−87, 87] (e^±87 stays a normal float, which is
/// all SiLU needs: beyond it x·sigmoid(x) is x or 0 to float precision).
///
/// Cephes `expf`: n = round(x / ln 2), r = x − n·ln 2 (ln 2 split in two so r is exact),
/// e^r by a degree-5 polynomial, times 2^n written into the exponent bits. About 1 ulp.
/// Written with plain lane arithmetic and bit casts only, which the optimizer keeps in vector
/// registers (SIMD `rounded` and float→int conversions go lane by lane).
@inline(__always)
func expClamped(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    var x = x
    x.replace(with: -87, where: x .< -87)
    x.replace(with: 87, where: x .> 87)
    // Adding 1.5·2^23 rounds to an integer (ties to even) and leaves it in the low mantissa bits.
    let magic = V(repeating: 12_582_912)
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    let nBits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000   // = n as Int32
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = V(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * (r * r) + r + 1
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: V.self)   // 2^n: the exponent field alone
    return y * scale
}
