/// Nearest-neighbour ×2 upsampling (PyTorch `interpolate(scale_factor=2, mode="nearest")`).
///
///     x   [B, C, H, W]
///     out [B, C, 2H, 2W]      out[b, c, y, x] = x[b, c, y/2, x/2]
public func upsampleNearest2x(_ out: inout Tensor, _ x: Tensor) {
    precondition(x.shape.count == 4, "upsampleNearest2x wants NCHW")
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    out.resize(to: [batch, channels, 2 * height, 2 * width])
    x.storage.withUnsafeBufferPointer { xBuf in
        out.storage.withUnsafeMutableBufferPointer { outBuf in
            let src = SharedConstPointer(xBuf.baseAddress!)
            let dst = SharedPointer(outBuf.baseAddress!)
            Parallel.forEach(batch * channels, work: 4 * x.count) { plane in
                let from = src.base + plane * height * width
                let to = dst.base + plane * 4 * height * width
                for y in 0..<height {
                    let line = to + 2 * y * 2 * width
                    for x in 0..<width {
                        let v = from[y * width + x]
                        line[2 * x] = v
                        line[2 * x + 1] = v
                    }
                    (line + 2 * width).update(from: line, count: 2 * width)
                }
            }
        }
    }
}

/// Depth-to-space, DCR order (as GSQ's DepthToSpace2D and `einops "b (r1 r2 c) h w -> b c (h r1) (w r2)"`).
///
///     x   [B, r²·C, H, W]
///     out [B, C, r·H, r·W]    out[b, c, r·h + i, r·w + j] = x[b, (r·i + j)·C + c, h, w]
public func depthToSpace(_ out: inout Tensor, _ x: Tensor, blockSize r: Int = 2) {
    precondition(x.shape.count == 4, "depthToSpace wants NCHW")
    let (batch, depth, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    precondition(r >= 1 && depth % (r * r) == 0, "depthToSpace: \(depth) channels do not split into \(r)×\(r) blocks")
    let channels = depth / (r * r)
    out.resize(to: [batch, channels, r * height, r * width])
    x.storage.withUnsafeBufferPointer { xBuf in
        out.storage.withUnsafeMutableBufferPointer { outBuf in
            let src = SharedConstPointer(xBuf.baseAddress!)
            let dst = SharedPointer(outBuf.baseAddress!)
            Parallel.forEach(batch * channels, work: x.count) { bc in
                let (b, c) = (bc / channels, bc % channels)
                let to = dst.base + bc * r * height * r * width
                for i in 0..<r {
                    for j in 0..<r {
                        let from = src.base + ((b * depth) + (r * i + j) * channels + c) * height * width
                        for h in 0..<height {
                            let line = to + (r * h + i) * r * width + j
                            for w in 0..<width { line[r * w] = from[h * width + w] }
                        }
                    }
                }
            }
        }
    }
}
