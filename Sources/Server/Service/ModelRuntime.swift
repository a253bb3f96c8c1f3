import Tensor
import Tokenizer

/// What waits in a model's queue: an image to encode ([1, 3, H, W] in [-1, 1]) or a grid to decode.
enum Job: Sendable {
    case encode(Tensor)
    case decode(IdGrid)
}

enum JobOutput: Sendable {
    case grid(IdGrid)
    /// [1, 3, H, W], unclamped.
    case image(Tensor)
}

/// Jobs batch together only when they are of one kind and one size.
struct JobKey: Hashable, Sendable {
    var decode: Bool
    var shape: [Int]
}

/// One served model: its engine, its queue and worker threads, its codebook statistics.
final class ModelRuntime: Sendable {
    let name: String
    let engine: any TokenizerEngine
    let spec: IdsSpec
    let health: CodebookHealth
    private let scheduler: BatchScheduler<Job, JobOutput, JobKey>
    private let warm = Locked(false)

    init(model: LoadedModel, configuration: ServiceConfiguration, metrics: ServiceMetrics) {
        let name = model.name
        let engine = model.engine
        self.name = name
        self.engine = engine
        let f = engine.downsampleFactor
        spec = IdsSpec(codebookSize: engine.codebookSize, groups: engine.config.quantizer.groups,
                       maxPositions: max(1, configuration.maxNativePixels / (f * f)),
                       maxGrids: configuration.maxItemsPerRequest)
        health = CodebookHealth(codebookSize: engine.codebookSize, windowSize: configuration.healthWindowTokens)
        let observer = BatchObserver(
            queueDepth: { metrics.queueDepth(model: name, items: $0) },
            batchRan: { items, _ in metrics.batch(model: name, items: items) },
            dropped: { reason, items in metrics.dropped(model: name, reason: reason.rawValue, items: items) })
        let stages = StageClock { metrics.stage($0, model: name, duration: $1) }
        scheduler = BatchScheduler(name: name, policy: configuration.batching, observer: observer,
                                   cost: { Self.pixels($0, factor: f) }) { jobs throws(ServiceError) in
            try Self.run(jobs, engine: engine, stages: stages)
        }
    }

    /// True once the warm-up pass succeeded.
    var isReady: Bool { warm.withLock { $0 } }

    /// Ids for each image ([1, 3, H, W] tensors); images of one size share batches.
    func encode(_ images: [Tensor]) async throws(ServiceError) -> Batched<JobOutput> {
        try await scheduler.submit(images.map { (key: JobKey(decode: false, shape: $0.shape), payload: .encode($0)) })
    }

    /// Images for each grid.
    func decode(_ grids: [IdGrid]) async throws(ServiceError) -> Batched<JobOutput> {
        try await scheduler.submit(grids.map { (key: JobKey(decode: true, shape: $0.shape), payload: .decode($0)) })
    }

    /// One encode and one decode at the model resolution through the queue; the model is ready after.
    func warmUp() async throws(ServiceError) {
        let side = engine.config.preprocessing.resolution
        let encoded = try await encode([Tensor(zeros: [1, 3, side, side])])
        guard case .grid(let grid) = encoded.outputs[0] else { throw .internalError("warm-up encode gave no grid") }
        _ = try await decode([grid])
        warm.withLock { $0 = true }
    }

    func shutdown() { scheduler.shutdown() }

    /// The pixels a job works on: its input image, or the image its grid decodes to.
    static func pixels(_ job: Job, factor: Int) -> Int {
        switch job {
        case .encode(let tensor): tensor.shape[2] * tensor.shape[3]
        case .decode(let grid): grid.shape[0] * grid.shape[1] * factor * factor
        }
    }

    /// Runs one batch (all jobs share a kind and a size).
    static func run(_ jobs: [Job], engine: any TokenizerEngine, stages: StageClock) throws(ServiceError) -> [JobOutput] {
        switch jobs[0] {
        case .encode:
            let tensors = jobs.map { job -> Tensor in
                guard case .encode(let t) = job else { preconditionFailure("a batch mixes kinds") }
                return t
            }
            let shape = tensors[0].shape
            var storage = [Float]()
            storage.reserveCapacity(tensors.count * tensors[0].count)
            for t in tensors { storage += t.storage }
            let grid = engine.encode(Tensor(shape: [tensors.count] + shape.dropFirst(), storage: storage), stages: stages)
            return grid.idGrids.map { .grid($0) }
        case .decode:
            let grids = jobs.map { job -> IdGrid in
                guard case .decode(let g) = job else { preconditionFailure("a batch mixes kinds") }
                return g
            }
            let tokenGrid = TokenGrid(batchOf: grids)
            let images: Tensor
            do {
                images = try engine.decode(tokenGrid, stages: stages)
            } catch let error as TokenizerError {
                throw .invalidIds(error.description)
            } catch {
                throw .internalError("model decode failed: \(error)")
            }
            let per = images.count / grids.count
            let itemShape = [1] + images.shape.dropFirst()
            return (0..<grids.count).map { b in
                .image(Tensor(shape: itemShape, storage: Array(images.storage[(b * per)..<((b + 1) * per)])))
            }
        }
    }
}
