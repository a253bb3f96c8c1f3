import Foundation

/// SiLU (swish) in place: x ← x · sigmoid(x) = x / (1 + e^(−x)).   x: any shape.
/// Vectorized 16 lanes at a time (`expClamped`); within a few ulp of the Double result.
public func silu(_ x: inout Tensor) {
    let count = x.count
    x.storage.withUnsafeMutableBufferPointer { buf in
        let p = SharedPointer(buf.baseAddress!)
        Parallel.forChunks(count, minimumChunk: 1 << 16) { range in
            let raw = UnsafeMutableRawPointer(p.base)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                raw.storeBytes(of: v / (1 + expClamped(-v)), toByteOffset: i * 4, as: SIMD16<Float>.self)
                i += 16
            }
            while i < range.upperBound {
                let v = p.base[i]
                p.base[i] = v / (1 + exp(-v))
                i += 1
            }
        }
    }
}

/// Residual add in place: x ← x + y.   x, y: the same shape.
public func residualAdd(_ x: inout Tensor, _ y: Tensor) {
    precondition(x.shape == y.shape, "residualAdd: \(x.shape) vs \(y.shape)")
    let count = x.count
    y.storage.withUnsafeBufferPointer { yBuf in
        x.storage.withUnsafeMutableBufferPointer { xBuf in
            let dst = SharedPointer(xBuf.baseAddress!)
            let src = SharedConstPointer(yBuf.baseAddress!)
            Parallel.forChunks(count, minimumChunk: 1 << 18) { range in
                for i in range { dst.base[i] += src.base[i] }
            }
        }
    }
}

/// Scale and shift per image and channel, in place (GSQ's adaptive GroupNorm after its
/// non-affine GroupNorm):
///
///     x            [B, C, H, W]
///     scale, shift [B, C]         x[b, c, h, w] ← x[b, c, h, w] · scale[b, c] + shift[b, c]
public func channelAffine(_ x: inout Tensor, scale: Tensor, shift: Tensor) {
    precondition(x.shape.count == 4 && scale.shape == [x.shape[0], x.shape[1]] && shift.shape == scale.shape,
                 "channelAffine: x \(x.shape), scale \(scale.shape), shift \(shift.shape)")
    let (planes, plane, count) = (x.shape[0] * x.shape[1], x.shape[2] * x.shape[3], x.count)
    x.storage.withUnsafeMutableBufferPointer { xBuf in
        let dst = SharedPointer(xBuf.baseAddress!)
        Parallel.forEach(planes, work: count) { bc in
            let (a, b) = (scale.storage[bc], shift.storage[bc])
            for i in (bc * plane)..<((bc + 1) * plane) { dst.base[i] = dst.base[i] * a + b }
        }
    }
}
