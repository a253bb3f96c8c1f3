import Checkpoint
import Tensor
import Tokenizer

/// What the service needs from a tokenizer. `VQTokenizer` is the real one; tests may use a fake.
/// Stage timings are reported through `StageClock` so the metrics see encoder and quantize apart.
public protocol TokenizerEngine: Sendable {
    var config: ModelConfig { get }
    var downsampleFactor: Int { get }
    var codebookSize: Int { get }
    /// Ids of `images` ([B, 3, H, W] in [-1, 1]).
    func encode(_ images: Tensor, stages: StageClock) -> TokenGrid
    /// Images ([B, 3, h·f, w·f], unclamped) for `grid`.
    func decode(_ grid: TokenGrid, stages: StageClock) throws -> Tensor
}

/// Times stages of one batch and reports each to a sink (the metrics).
public struct StageClock: Sendable {
    let report: @Sendable (Stage, Duration) -> Void

    public init(report: @escaping @Sendable (Stage, Duration) -> Void = { _, _ in }) {
        self.report = report
    }

    /// Runs `body`, reports its time as `stage`, returns its result.
    public func time<T>(_ stage: Stage, _ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        defer { report(stage, ContinuousClock.now - start) }
        return try body()
    }
}

extension VQTokenizer: TokenizerEngine {
    public func encode(_ images: Tensor, stages: StageClock) -> TokenGrid {
        let latents = stages.time(.encoder) { encodeLatents(images) }
        return stages.time(.quantize) { quantize(latents) }
    }

    public func decode(_ grid: TokenGrid, stages: StageClock) throws -> Tensor {
        try stages.time(.decoder) { try decode(grid) }
    }
}

extension TokenGrid {
    /// One `IdGrid` per image: shape [h, w], or [h, w, g] for g ids per position.
    public var idGrids: [IdGrid] {
        let (gridShape, per) = (Array(shape.dropFirst()), height * width * groups)
        return (0..<batch).map { b in IdGrid(shape: gridShape, ids: Array(ids[(b * per)..<((b + 1) * per)])) }
    }

    /// `grids`, all of one shape ([h, w] or [h, w, g]), as one batch.
    public init(batchOf grids: [IdGrid]) {
        let shape = grids[0].shape
        precondition(grids.allSatisfy { $0.shape == shape }, "a batch of grids of different shapes")
        self.init(batch: grids.count, height: shape[0], width: shape[1], groups: shape.count > 2 ? shape[2] : 1,
                  ids: grids.flatMap(\.ids))
    }
}
