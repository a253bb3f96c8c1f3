import Checkpoint
import Tensor

/// A grid of token ids, row-major over (batch, height, width).
public struct TokenGrid: Sendable, Equatable {
    public var batch: Int
    public var height: Int
    public var width: Int
    public var ids: [Int32]

    public init(batch: Int, height: Int, width: Int, ids: [Int32]) {
        self.batch = batch
        self.height = height
        self.width = width
        self.ids = ids
    }
}

/// A VQGAN-family image tokenizer (taming VQGAN, VQGAN-LC, LlamaGen VQ) built from its config
/// and upstream-named weights:
///
///     encode:  image [B, 3, H, W] in [−1, 1] → encoder → quant_conv → nearest code → ids [B, H/f, W/f]
///     decode:  ids → code vectors [B, e, h, w] → post_quant_conv → decoder → image [B, 3, h·f, w·f]
///
/// Immutable after `init`; every call builds its own scratch, so calls may run concurrently.
public final class VQTokenizer: Sendable {
    public let config: ModelConfig
    /// Elements of every weight the network uses, the frozen codebook included.
    public let parameterCount: Int
    let encoder: Encoder
    let decoder: Decoder
    let quantConv: Conv2dLayer
    let postQuantConv: Conv2dLayer
    let codebook: Codebook

    /// Builds every layer from `weights`, checking each tensor's presence, shape and finiteness.
    /// Throws `CheckpointError` naming the first bad tensor, or `TokenizerError.invalidConfig`.
    public convenience init(config: ModelConfig, weights: TensorSet) throws {
        try self.init(config: config, weights: Weights(tensors: weights))
    }

    init(config: ModelConfig, weights: Weights) throws {
        let architecture = config.encoderDecoder
        guard !architecture.chMult.isEmpty, architecture.ch > 0, architecture.numResBlocks > 0,
              architecture.normGroups > 0, architecture.zChannels > 0 else {
            throw TokenizerError.invalidConfig("encoder_decoder needs ch, ch_mult, num_res_blocks, z_channels, norm_groups > 0")
        }
        let context = BlockContext(weights: weights, groups: architecture.normGroups, eps: architecture.normEps)
        let naming: any CheckpointNaming = switch config.family {
        case .taming, .vqganLC: TamingNaming()
        case .llamagen: LlamaGenNaming(levels: architecture.chMult.count)
        }
        let (z, e) = (architecture.zChannels, config.quantizer.embedDim)
        self.config = config
        encoder = try Encoder(architecture, context, naming)
        quantConv = try Conv2dLayer(weights, "quant_conv", in: z, out: e, kernel: 1)
        codebook = try Codebook(config.quantizer, weights)
        postQuantConv = try Conv2dLayer(weights, "post_quant_conv", in: e, out: z, kernel: 1)
        decoder = try Decoder(architecture, context, naming)
        parameterCount = weights.tally.count
    }

    /// Image side length per token: 2^(levels − 1).
    public var downsampleFactor: Int { config.encoderDecoder.downsampleFactor }

    /// Number of distinct token ids.
    public var codebookSize: Int { codebook.size }

    /// Latent vectors before quantization: quant_conv(encoder(images)), [B, e, H/f, W/f].
    /// `images` is [B, 3, H, W] in [−1, 1] with H and W multiples of `downsampleFactor`.
    public func encodeLatents(_ images: Tensor) -> Tensor {
        precondition(images.shape.count == 4 && images.shape[1] == config.encoderDecoder.inChannels,
                     "encode wants [B, \(config.encoderDecoder.inChannels), H, W], got \(images.shape)")
        precondition(images.shape[0] > 0 && images.shape[2] > 0 && images.shape[3] > 0
                     && images.shape[2] % downsampleFactor == 0 && images.shape[3] % downsampleFactor == 0,
                     "encode wants H and W positive multiples of \(downsampleFactor), got \(images.shape)")
        var ws = Workspace()
        var x = images
        encoder.forward(&x, &ws)
        quantConv.forward(&ws.a, x, columns: &ws.columns)
        return ws.a.compacted()
    }

    /// Token ids of `images` ([B, 3, H, W] in [−1, 1], H and W multiples of `downsampleFactor`).
    public func encode(_ images: Tensor) -> TokenGrid {
        quantize(encodeLatents(images))
    }

    /// Nearest-code ids of latent vectors [B, e, h, w] (as `encodeLatents` returns them;
    /// l2-normalized first for the cosine kind). `encode` = `quantize(encodeLatents(_:))`,
    /// split so that callers can time the encoder and the codebook search apart.
    public func quantize(_ latents: Tensor) -> TokenGrid {
        precondition(latents.shape.count == 4 && latents.shape[1] == codebook.dim,
                     "quantize wants [B, \(codebook.dim), h, w], got \(latents.shape)")
        let (batch, dim, height, width) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3])
        var queries = latentVectors(latents)
        if codebook.normalizesLatents { l2NormalizeRows(&queries, dim: dim) }
        let ids = codebook.nearestCodes(queries, count: batch * height * width)
        return TokenGrid(batch: batch, height: height, width: width, ids: ids)
    }

    /// The decoder's output for `grid` ([B, 3, h·f, w·f], roughly [−1, 1], not clamped).
    /// Throws `TokenizerError` when the grid is malformed or an id is outside the codebook.
    public func decode(_ grid: TokenGrid) throws -> Tensor {
        guard grid.batch > 0, grid.height > 0, grid.width > 0 else {
            throw TokenizerError.invalidGrid("shape \(grid.batch)×\(grid.height)×\(grid.width) is empty")
        }
        guard grid.ids.count == grid.batch * grid.height * grid.width else {
            throw TokenizerError.invalidGrid("\(grid.ids.count) ids for shape \(grid.batch)×\(grid.height)×\(grid.width)")
        }
        if let bad = grid.ids.firstIndex(where: { $0 < 0 || Int($0) >= codebook.size }) {
            throw TokenizerError.idOutOfRange(position: bad, id: grid.ids[bad], codebookSize: codebook.size)
        }
        var ws = Workspace()
        var x = codeVectors(grid)
        postQuantConv.forward(&ws.a, x, columns: &ws.columns)
        swap(&x, &ws.a)
        decoder.forward(&x, &ws)
        return x.compacted()
    }

    /// [B, e, h, w] → row-major [B·h·w, e] (one query per position, raster order).
    private func latentVectors(_ latents: Tensor) -> [Float] {
        let (batch, dim) = (latents.shape[0], latents.shape[1])
        let positions = latents.shape[2] * latents.shape[3]
        var queries = [Float](repeating: 0, count: latents.count)
        for b in 0..<batch {
            for c in 0..<dim {
                for p in 0..<positions {
                    queries[(b * positions + p) * dim + c] = latents.storage[(b * dim + c) * positions + p]
                }
            }
        }
        return queries
    }

    /// ids → the codebook rows they name, as [B, e, h, w].
    private func codeVectors(_ grid: TokenGrid) -> Tensor {
        let dim = codebook.dim
        let positions = grid.height * grid.width
        var out = Tensor(zeros: [grid.batch, dim, grid.height, grid.width])
        for b in 0..<grid.batch {
            for p in 0..<positions {
                let row = Int(grid.ids[b * positions + p]) * dim
                for c in 0..<dim {
                    out.storage[(b * dim + c) * positions + p] = codebook.vectors[row + c]
                }
            }
        }
        return out
    }
}
