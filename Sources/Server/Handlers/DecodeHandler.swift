import Imaging
import Tensor

/// POST /v1/models/{model}/decode: token ids (JSON, .npy or raw) to images (PNG or JPEG; a
/// batch as multipart/mixed, in order).
struct DecodeHandler: Sendable {
    let metrics: ServiceMetrics
    let defaultQuality: Int

    static let imageOffers = ["image/png", "image/jpeg"]

    func handle(_ request: ServiceRequest, model: ModelRuntime) async throws(ServiceError) -> ServiceResponse {
        let query = try QueryParameters(request.query)
        try query.require(only: ["quality"], route: "decode")
        let quality = try Self.quality(query["quality"], default: defaultQuality)
        let format = try Self.imageFormat(accept: request.headers["accept"])
        let (grids, batched) = try readIds(request, spec: model.spec)
        try Task.checkCancellation(or: .cancelled)
        let result = try await model.decode(grids)
        metrics.stage(.queue, model: model.name, duration: result.queueTime)
        let start = ContinuousClock.now
        let files = try await result.outputs.concurrentMap { _, output throws(ServiceError) -> [UInt8] in
            guard case .image(let tensor) = output else { preconditionFailure("decode gave no image") }
            let image = ImageTensor.toImages(tensor)[0]
            do {
                return try ImageCodec.encode(image, as: format, quality: quality)
            } catch {
                throw .internalError("encoding the \(format.rawValue) answer failed: \(error)")
            }
        }
        metrics.stage(.imageEncode, model: model.name, duration: ContinuousClock.now - start)
        var response: ServiceResponse
        if batched {
            let parts = files.enumerated().map { n, file in
                MultipartPart(headers: ["content-type": format.mediaType,
                                        "content-disposition": "inline; name=\"\(n)\"; filename=\"\(n).\(format.rawValue)\""],
                              body: file)
            }
            let boundary = Multipart.makeBoundary(avoiding: parts)
            response = ServiceResponse(contentType: "multipart/mixed; boundary=\(boundary)",
                                       body: Multipart.write(parts, boundary: boundary))
        } else {
            response = ServiceResponse(contentType: format.mediaType, body: files[0])
        }
        response.queueTime = result.queueTime
        response.computeTime = result.computeTime + (ContinuousClock.now - start)
        return response
    }

    /// Ids from the body, by its content type: JSON (default), .npy, or raw with shape headers.
    func readIds(_ request: ServiceRequest, spec: IdsSpec) throws(ServiceError) -> (grids: [IdGrid], batched: Bool) {
        guard !request.body.isEmpty else { throw .badRequest("the body is empty; send ids as JSON or .npy") }
        switch try request.contentType?.essence {
        case nil, "application/json", "text/json":
            return try IdsJSON.decode(request.body, spec: spec)
        case "application/x-npy", "application/npy":
            let array = try NPY.decode(request.body)
            return try spec.grids(shape: array.shape, values: array.values)
        case "application/octet-stream":
            return try RawIds.decode(request.body, shape: request.headers[RawIds.shapeHeader],
                                     dtype: request.headers[RawIds.dtypeHeader], spec: spec)
        case let other?:
            throw .unsupportedMediaType("content type \(other) is not supported; send ids as application/json, "
                + "application/x-npy or application/octet-stream (with \(RawIds.shapeHeader))")
        }
    }

    static func quality(_ text: String?, default fallback: Int) throws(ServiceError) -> Int {
        guard let text else { return fallback }
        guard let q = Int(text), (1...100).contains(q) else {
            throw .badRequest("quality=\(text) is not a whole number from 1 to 100")
        }
        return q
    }

    /// PNG or JPEG by Accept; `multipart/mixed` alone (a batch) means PNG parts.
    static func imageFormat(accept: String?) throws(ServiceError) -> ImageFormat {
        if let chosen = try Accept.negotiate(accept, offers: imageOffers) {
            return chosen == "image/jpeg" ? .jpeg : .png
        }
        if let accept, try Accept.parse(accept).contains(where: { $0.type == "multipart" && $0.quality > 0 }) {
            return .png
        }
        throw .notAcceptable(accept ?? "", offered: imageOffers + ["multipart/mixed"])
    }
}
