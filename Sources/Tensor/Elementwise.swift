import Foundation

/// SiLU (swish) in place: x ← x · sigmoid(x) = x / (1 + e^(−x)).   x: any shape.
public func silu(_ x: inout Tensor) {
    let count = x.count
    x.storage.withUnsafeMutableBufferPointer { buf in
        let p = SharedPointer(buf.baseAddress!)
        Parallel.forChunks(count, minimumChunk: 1 << 16) { range in
            for i in range {
                let v = p.base[i]
                p.base[i] = v / (1 + exp(-v))
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
