/// Resizing and cropping as the reference preprocessing does it (PIL, see `Resampler`).
extension RGBImage {
    /// The whole image resampled to `width` x `height` (aspect ratio not kept), like PIL's
    /// `Image.resize((width, height), filter)`. Same size: the image itself.
    public func resizeWhole(width: Int, height: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        Resampler.resize(self, width: width, height: height, filter: filter)
    }

    /// Resized so that the shorter side is `size`, the longer side scaled by the same factor and
    /// rounded half up (`ImageGeometry.shortestSideSize`, as the reference does). No resampling
    /// when the size does not change.
    public func resizeShortestSide(to size: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        let target = ImageGeometry.shortestSideSize(width: width, height: height, to: size)
        return resizeWhole(width: target.width, height: target.height, filter: filter)
    }

    /// The `width` x `height` rectangle whose top-left corner is (`x`, `y`); it must lie inside.
    public func crop(x: Int, y: Int, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && cropWidth >= 0 && cropHeight >= 0
                     && x + cropWidth <= width && y + cropHeight <= height,
                     "crop (\(x), \(y), \(cropWidth) x \(cropHeight)) outside \(width) x \(height)")
        if x == 0 && y == 0 && cropWidth == width && cropHeight == height { return self }
        var out = [UInt8]()
        out.reserveCapacity(cropWidth * cropHeight * 3)
        for row in y..<(y + cropHeight) {
            let start = (row * width + x) * 3
            out.append(contentsOf: pixels[start..<(start + cropWidth * 3)])
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    /// The centered `width` x `height` rectangle, offsets `(W - width) / 2` and
    /// `(H - height) / 2` rounded down (PIL/torchvision center crop on these sizes). The image must be
    /// at least that large.
    public func centerCrop(width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        crop(x: (width - cropWidth) / 2, y: (height - cropHeight) / 2,
             width: cropWidth, height: cropHeight)
    }

    /// The centered `size` x `size` square.
    public func centerCrop(size: Int) -> RGBImage {
        centerCrop(width: size, height: size)
    }

    /// taming / VQGAN-LC evaluation preprocessing: shortest side to `size`, then a centered
    /// `size` x `size` crop; or, as timm evaluates (GSQ), shortest side to a larger
    /// `shortestSide` first.
    /// Only the cropped window is computed (identical to resizing the whole image, then
    /// cropping), so an extreme aspect ratio costs no more than a square image.
    public func resizeShortestSideAndCenterCrop(to size: Int, shortestSide: Int? = nil,
                                                filter: ResampleFilter = .bilinear) -> RGBImage {
        precondition((shortestSide ?? size) >= size, "crop \(size) from a shortest side of \(shortestSide ?? size)")
        let target = ImageGeometry.shortestSideSize(width: width, height: height, to: shortestSide ?? size)
        return resizeWholeAndCenterCrop(width: target.width, height: target.height,
                                        size: size, filter: filter)
    }

    /// `resizeWhole(width:height:filter:)` then `centerCrop(size:)`, computing only the crop.
    func resizeWholeAndCenterCrop(width newWidth: Int, height newHeight: Int, size: Int,
                                  filter: ResampleFilter) -> RGBImage {
        precondition(size <= newWidth && size <= newHeight,
                     "crop \(size) from \(newWidth) x \(newHeight)")
        let left = (newWidth - size) / 2, top = (newHeight - size) / 2
        return Resampler.resize(self, width: newWidth, height: newHeight, filter: filter,
                                columns: left..<(left + size), rows: top..<(top + size))
    }

    /// LlamaGen's `center_crop_arr` (from ADM): halve with a box filter while the shorter side is
    /// at least `2 * size`, scale the shorter side to `size` with bicubic (sides rounded with
    /// Python's round-half-to-even of `side * size / shortest`), then center-crop `size` x `size`.
    public func admCenterCrop(size: Int) -> RGBImage {
        var image = self
        while min(image.width, image.height) >= 2 * size {
            image = image.resizeWhole(width: image.width / 2, height: image.height / 2, filter: .box)
        }
        let scale = Double(size) / Double(min(image.width, image.height))
        let w = Int((Double(image.width) * scale).rounded(.toNearestOrEven))
        let h = Int((Double(image.height) * scale).rounded(.toNearestOrEven))
        return image.resizeWholeAndCenterCrop(width: w, height: h, size: size, filter: .bicubic)
    }

    /// Center-cropped to the largest size whose sides are multiples of `factor` (the image's own
    /// size kept, as far as the network's downsampling allows). Sides shorter than `factor` are
    /// a precondition failure; check with `ImageGeometry.roundDown` first.
    public func centerCropToMultiple(of factor: Int) -> RGBImage {
        let w = ImageGeometry.roundDown(width, toMultipleOf: factor)
        let h = ImageGeometry.roundDown(height, toMultipleOf: factor)
        precondition(w > 0 && h > 0, "\(width) x \(height) is smaller than \(factor)")
        return centerCrop(width: w, height: h)
    }

    /// Resized (whole image, aspect nearly kept) to the nearest sides that are multiples of
    /// `factor`, at least `factor` each.
    public func resizeToMultiple(of factor: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        resizeWhole(width: ImageGeometry.roundToNearest(width, multipleOf: factor),
                    height: ImageGeometry.roundToNearest(height, multipleOf: factor), filter: filter)
    }
}

/// Size arithmetic shared by the preprocessing paths and the server's validation.
public enum ImageGeometry {
    /// The size after scaling the shorter side to `size`: the other side becomes
    /// `side * size / shortest` rounded half up, never below `size` (integer arithmetic, as the
    /// reference `resized_size`; torchvision and PIL differ only at exact halves). Ties
    /// (square images) scale the width.
    public static func shortestSideSize(width: Int, height: Int, to size: Int) -> (width: Int, height: Int) {
        precondition(width > 0 && height > 0 && size > 0, "shortest side of \(width) x \(height) to \(size)")
        if width <= height {
            return (size, max(size, (height * size * 2 + width) / (2 * width)))
        }
        return (max(size, (width * size * 2 + height) / (2 * height)), size)
    }

    /// `value` rounded down to a multiple of `factor` (0 when smaller than `factor`).
    public static func roundDown(_ value: Int, toMultipleOf factor: Int) -> Int {
        precondition(factor > 0 && value >= 0, "round \(value) to a multiple of \(factor)")
        return value / factor * factor
    }

    /// `value` rounded to the nearest multiple of `factor` (halves up), at least `factor`.
    public static func roundToNearest(_ value: Int, multipleOf factor: Int) -> Int {
        precondition(factor > 0 && value >= 0, "round \(value) to a multiple of \(factor)")
        return max(factor, (value + factor / 2) / factor * factor)
    }
}
