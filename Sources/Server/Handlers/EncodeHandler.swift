import Checkpoint
import Tensor

/// POST /v1/models/{model}/encode: images (one, or a multipart/form-data batch) to token ids.
struct EncodeHandler: Sendable {
    let input: ImageInput
    let metrics: ServiceMetrics

    static let offers = [IdsJSON.mediaType, NPY.mediaType, RawIds.mediaType]

    func handle(_ request: ServiceRequest, model: ModelRuntime) async throws(ServiceError) -> ServiceResponse {
        let query = try QueryParameters(request.query)
        try query.require(only: ["resize"], route: "encode")
        let modeName = query["resize"] ?? ResizeMode.crop.rawValue
        guard let mode = ResizeMode(rawValue: modeName) else {
            throw .badRequest("resize=\(modeName) is not one of crop, whole, none")
        }
        guard let format = try Accept.negotiate(request.headers["accept"], offers: Self.offers) else {
            throw .notAcceptable(request.headers["accept"] ?? "", offered: Self.offers)
        }
        let (files, batched) = try input.files(in: request)
        let name = model.name
        let config = model.engine.config
        let tensors = try await files.concurrentMap { [self] n, file throws(ServiceError) -> Tensor in
            let label = batched ? "part \(n)" : "the body"
            let image = try timed(.imageDecode, name) { () throws(ServiceError) in try input.decode(file, label: label) }
            return try timed(.preprocess, name) { () throws(ServiceError) in
                try input.preprocess(image, mode: mode, config: config, label: label)
            }
        }
        try Task.checkCancellation(or: .cancelled)
        let result = try await model.encode(tensors)
        metrics.stage(.queue, model: name, duration: result.queueTime)
        let grids = result.outputs.map { output -> IdGrid in
            guard case .grid(let grid) = output else { preconditionFailure("encode gave no grid") }
            return grid
        }
        for grid in grids { model.health.record(grid.ids) }
        var response = Self.render(grids, batched: batched, format: format, model: model)
        response.queueTime = result.queueTime
        response.computeTime = result.computeTime
        return response
    }

    static func render(_ grids: [IdGrid], batched: Bool, format: String, model: ModelRuntime) -> ServiceResponse {
        let dtype = IdDType(codebookSize: model.spec.codebookSize)
        switch format {
        case NPY.mediaType:
            let shape = (batched ? [grids.count] : []) + grids[0].shape
            if grids.allSatisfy({ $0.shape == grids[0].shape }) {
                return ServiceResponse(contentType: NPY.mediaType,
                                       body: NPY.encode(shape: shape, dtype: dtype, values: grids.flatMap(\.ids)))
            }
            // Grids of different sizes (resize=none) do not stack into one array.
            return ServiceResponse(error: .notAcceptable(NPY.mediaType + " (grids of different shapes)",
                                                         offered: [IdsJSON.mediaType]))
        case RawIds.mediaType:
            guard grids.allSatisfy({ $0.shape == grids[0].shape }) else {
                return ServiceResponse(error: .notAcceptable(RawIds.mediaType + " (grids of different shapes)",
                                                             offered: [IdsJSON.mediaType]))
            }
            let (body, headers) = RawIds.encode(grids, batched: batched, dtype: dtype)
            return ServiceResponse(contentType: RawIds.mediaType, body: body,
                                   headers: headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        default:
            return ServiceResponse(contentType: IdsJSON.mediaType,
                                   body: IdsJSON.encode(model: model.name, codebookSize: model.spec.codebookSize,
                                                        grids: grids, batched: batched))
        }
    }

    private func timed<T>(_ stage: Stage, _ model: String, _ body: () throws(ServiceError) -> T) throws(ServiceError) -> T {
        let start = ContinuousClock.now
        defer { metrics.stage(stage, model: model, duration: ContinuousClock.now - start) }
        return try body()
    }
}

extension Task where Success == Never, Failure == Never {
    /// Throws `error` when the current task is cancelled (the client went away).
    static func checkCancellation(or error: ServiceError) throws(ServiceError) {
        if Task.isCancelled { throw error }
    }
}
