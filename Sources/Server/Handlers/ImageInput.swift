import Checkpoint
import Imaging
import Tensor

/// How an uploaded image is brought to the network's input (the `resize` query parameter).
public enum ResizeMode: String, Sendable, CaseIterable {
    /// The model's own preprocessing: shortest side to the model resolution, center crop.
    case crop
    /// The whole image resized to the model resolution, aspect ratio not kept.
    case whole
    /// The image's own size, center-cropped to multiples of the downsample factor: the grid
    /// follows the image.
    case none
}

/// Reading images from an encode request: which bytes are images, checking them from the
/// header before decoding, and preprocessing.
public struct ImageInput: Sendable {
    let maxImagePixels: Int
    let maxNativePixels: Int
    let maxItems: Int

    public init(maxImagePixels: Int, maxNativePixels: Int, maxItems: Int) {
        self.maxImagePixels = maxImagePixels
        self.maxNativePixels = maxNativePixels
        self.maxItems = maxItems
    }

    static let imageTypes: Set<String> = ["image/png", "image/jpeg", "image/jpg", "image/pjpeg"]

    /// The image files in the body: the body itself, or each part of a multipart/form-data body.
    func files(in request: ServiceRequest) throws(ServiceError) -> (files: [[UInt8]], multipart: Bool) {
        let media = try request.contentType
        if let media, media.type == "multipart" {
            guard media.essence == "multipart/form-data" || media.essence == "multipart/mixed" else {
                throw .unsupportedMediaType("\(media.essence) is not supported; send multipart/form-data")
            }
            let parts = try Multipart.parse(request.body, boundary: try Multipart.boundary(of: media), maxParts: maxItems)
            guard !parts.isEmpty else { throw .badRequest("the multipart body holds no part") }
            for (n, part) in parts.enumerated() {
                guard let text = part.contentType else { continue }
                let label = "part \(n)\(part.name.map { " ('\($0)')" } ?? "")"
                guard let type = MediaType(parsing: text) else {
                    throw .badRequest("\(label) has content-type '\(text)', which is not one media type")
                }
                if !acceptable(type) {
                    throw .unsupportedMediaType("\(label) is \(type.essence), not an image; send image/png or image/jpeg parts")
                }
            }
            return (parts.map(\.body), true)
        }
        if let media, !acceptable(media) {
            throw .unsupportedMediaType("content type \(media.essence) is not supported; send image/png, "
                + "image/jpeg or multipart/form-data")
        }
        return ([request.body], false)
    }

    private func acceptable(_ media: MediaType) -> Bool {
        Self.imageTypes.contains(media.essence) || media.essence == "application/octet-stream"
    }

    /// Checks one file from its header (format, pixel cap) and decodes it.
    func decode(_ bytes: [UInt8], label: String) throws(ServiceError) -> RGBImage {
        guard !bytes.isEmpty else { throw .badRequest("\(label) is empty") }
        guard ImageCodec.sniff(bytes) != nil else {
            throw .unsupportedMediaType("\(label) is not a PNG or JPEG image")
        }
        do {
            _ = try ImageCodec.probe(bytes, maxPixels: maxImagePixels)
            return try ImageCodec.decode(bytes, maxPixels: maxImagePixels)
        } catch let error as ImageError {
            throw Self.map(error, label: label)
        } catch {
            throw .badRequest("\(label) cannot be read: \(error)")
        }
    }

    static func map(_ error: ImageError, label: String) -> ServiceError {
        switch error {
        case .unsupportedFormat: .unsupportedMediaType("\(label): \(error.description)")
        case .corrupt: .badRequest("\(label): \(error.description)")
        case .tooLarge: .tooLarge("\(label): \(error.description)")
        case .empty: .badRequest("\(label) is an empty image")
        }
    }

    /// The network input for `image`: [1, 3, H, W] in [-1, 1].
    ///
    /// resize=crop is the model's own preprocessing (`RGBImage.modelCenterCrop`); the pixel
    /// guard below reads its shortest-side resize, which ADM's halvings only make smaller.
    public func preprocess(_ image: RGBImage, mode: ResizeMode, config: ModelConfig, label: String) throws(ServiceError) -> Tensor {
        let side = config.preprocessing.resolution
        let filter = ResampleFilter(rawValue: config.preprocessing.interpolation.rawValue) ?? .bilinear
        let ready: RGBImage
        switch mode {
        case .crop:
            // An extreme aspect ratio makes the resized image before the crop enormous (1x100000
            // to shortest side 256 is 256x25600000): refuse it rather than allocate it.
            let shortest = config.preprocessing.resizedSide
            let resized = ImageGeometry.shortestSideSize(width: image.width, height: image.height, to: shortest)
            let (w, overflow) = resized.width.multipliedReportingOverflow(by: resized.height)
            guard !overflow, w <= max(maxImagePixels, shortest * shortest) else {
                throw .tooLarge("\(label) is \(image.width)x\(image.height); resizing its shortest side to \(shortest) "
                    + "would make \(resized.width)x\(resized.height) pixels, over the limit of \(maxImagePixels); "
                    + "use resize=whole")
            }
            ready = image.modelCenterCrop(config.preprocessing)
        case .whole:
            ready = image.resizeWhole(width: side, height: side, filter: filter)
        case .none:
            let f = config.encoderDecoder.downsampleFactor
            guard image.width >= f, image.height >= f else {
                throw .badRequest("\(label) is \(image.width)x\(image.height), smaller than the model's downsample "
                    + "factor \(f); use resize=crop or resize=whole")
            }
            guard image.pixelCount <= maxNativePixels else {
                throw .tooLarge("\(label) is \(image.width)x\(image.height) = \(image.pixelCount) pixels; with "
                    + "resize=none at most \(maxNativePixels) pixels are tokenized (use resize=crop or whole)")
            }
            ready = image.centerCropToMultiple(of: f)
        }
        return ImageTensor.fromImage(ready)
    }
}

extension RGBImage {
    /// The model's square input (`PreprocessingConfig`): the shortest side resized then the
    /// center crop, or LlamaGen's ADM crop. The service's resize=crop and `vqtok encode` use it.
    public func modelCenterCrop(_ preprocessing: PreprocessingConfig) -> RGBImage {
        let side = preprocessing.resolution
        switch preprocessing.centerCrop ?? .shortestSide {
        case .adm:
            return admCenterCrop(size: side)
        case .shortestSide:
            let filter = ResampleFilter(rawValue: preprocessing.interpolation.rawValue) ?? .bilinear
            return resizeShortestSideAndCenterCrop(to: side, shortestSide: preprocessing.resizedSide, filter: filter)
        }
    }
}
