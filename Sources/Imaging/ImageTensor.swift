import Tensor

/// Pixels <-> the networks' input and output tensors: NCHW float32 in [-1, 1].
///
/// To the network: `v / 127.5 - 1`, computed in double and rounded once to float (as the
/// reference's `float32(float64(v) / 127.5 - 1)`), so 0 -> -1, 255 -> 1.
/// From the network: clamp to [-1, 1], `(x + 1) * 127.5` in float, rounded to nearest with ties
/// to even (`torch.round`, as the reference's `postprocess`); NaN becomes 0.
public enum ImageTensor {
    /// The 256 input values, one per byte.
    static let levels: [Float] = (0..<256).map { Float(Double($0) / 127.5 - 1) }

    /// Stacks same-sized images into a [B, 3, H, W] tensor. All images must have the size of the
    /// first (a precondition); an empty list is a precondition failure too.
    public static func fromImages(_ images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "fromImages needs at least one image")
        let width = images[0].width, height = images[0].height
        let plane = width * height
        var storage = [Float](repeating: 0, count: images.count * 3 * plane)
        var out = storage.mutableSpan
        let table = levels.span
        for (b, image) in images.enumerated() {
            precondition(image.width == width && image.height == height,
                         "image \(b) is \(image.width) x \(image.height), expected \(width) x \(height)")
            let base = b * 3 * plane
            let pixels = image.pixels.span
            for p in 0..<plane {
                out[base + p] = table[Int(pixels[3 * p])]
                out[base + plane + p] = table[Int(pixels[3 * p + 1])]
                out[base + 2 * plane + p] = table[Int(pixels[3 * p + 2])]
            }
        }
        return Tensor(shape: [images.count, 3, height, width], storage: storage)
    }

    /// One image as a [1, 3, H, W] tensor.
    public static func fromImage(_ image: RGBImage) -> Tensor {
        fromImages([image])
    }

    /// Splits a [B, 3, H, W] (or [3, H, W]) tensor into B images.
    public static func toImages(_ tensor: Tensor) -> [RGBImage] {
        let shape = tensor.shape.count == 3 ? [1] + tensor.shape : tensor.shape
        precondition(shape.count == 4 && shape[1] == 3, "toImages needs [B, 3, H, W], got \(tensor.shape)")
        let (batch, height, width) = (shape[0], shape[2], shape[3])
        let plane = width * height
        let storage = tensor.storage
        return (0..<batch).map { b in
            var pixels = [UInt8](repeating: 0, count: plane * 3)
            var out = pixels.mutableSpan
            let values = storage.span
            let base = b * 3 * plane
            for c in 0..<3 {
                let channel = base + c * plane
                for p in 0..<plane {
                    out[3 * p + c] = toByte(values[channel + p])
                }
            }
            return RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    /// One value in [-1, 1] to a byte: clamp, `(x + 1) * 127.5`, round half to even.
    @inline(__always)
    static func toByte(_ x: Float) -> UInt8 {
        guard !x.isNaN else { return 0 }
        let clamped = min(max(x, -1), 1)
        return UInt8(((clamped + 1) * 127.5).rounded(.toNearestOrEven))
    }
}
