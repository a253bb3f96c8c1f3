import Checkpoint
import Tensor

/// A grid of token ids, row-major over (batch, height, width, group): `groups` ids per
/// position (1 but for grouped quantizers).
public struct TokenGrid: Sendable, Equatable {
    public var batch: Int
    public var height: Int
    public var width: Int
    public var groups: Int
    public var ids: [Int32]

    public init(batch: Int, height: Int, width: Int, groups: Int = 1, ids: [Int32]) {
        self.batch = batch
        self.height = height
        self.width = width
        self.groups = groups
        self.ids = ids
    }

    /// [batch, height, width], with a last axis of `groups` when there is more than one.
    public var shape: [Int] { [batch, height, width] + (groups > 1 ? [groups] : []) }
}

/// A VQGAN-family image tokenizer (taming VQGAN, VQGAN-LC, LlamaGen VQ, GSQ) built from its
/// config and upstream-named weights:
///
///     encode:  image [B, 3, H, W] in [−1, 1] → encoder → quant_conv → nearest code → ids [B, H/f, W/f]
///     decode:  ids → code vectors [B, e, h, w] → post_quant_conv → decoder → image [B, 3, h·f, w·f]
///
/// GSQ has no quant_conv or post_quant_conv, and matches each of the latent's g channel groups
/// on its own: ids [B, H/f, W/f, g].
///
/// Immutable after `init` but for its pool of idle workspaces; calls may run concurrently, each
/// on its own workspace. A batch runs in chunks of images whose largest activation stays within
/// `activationBudget` floats (every image is computed on its own anyway: chunks change no
/// result), so the memory of a call is bounded whatever the batch.
public final class VQTokenizer: Sendable {
    public let config: ModelConfig
    /// Elements of every weight the network uses, the frozen codebook included.
    public let parameterCount: Int
    let network: Network
    let codebook: Codebook
    /// Workspaces kept between calls: as many as calls usually run at once (one per scheduler
    /// worker) plus one, each within what a chunk needs.
    let workspaces: WorkspacePool
    /// Floats of the largest activation of one chunk (by default 16 Mi, 64 MB: two 256×256
    /// images at 128 channels). A workspace holds about four such buffers.
    let activationBudget: Int

    /// Builds every layer from `weights`, checking each tensor's presence, shape and finiteness.
    /// Throws `CheckpointError` naming the first bad tensor, or `TokenizerError.invalidConfig`.
    public convenience init(config: ModelConfig, weights: TensorSet) throws {
        try self.init(config: config, weights: Weights(tensors: weights))
    }

    /// Builds every layer from a model directory's weights (`ModelDirectory.open`): a
    /// safetensors file is read tensor by tensor, each released once converted, so the peak
    /// resident size while building stays near the model's own.
    public convenience init(config: ModelConfig, weights: ModelDirectory.WeightsSource) throws {
        try self.init(config: config, weights: Weights(weights))
    }

    init(config: ModelConfig, weights: Weights, activationBudget: Int = 1 << 24) throws {
        let architecture = config.encoderDecoder
        guard !architecture.chMult.isEmpty, architecture.ch > 0,
              architecture.normGroups > 0, architecture.zChannels > 0 else {
            throw TokenizerError.invalidConfig("encoder_decoder needs ch, ch_mult, z_channels, norm_groups > 0")
        }
        self.config = config
        network = try Network(config, weights)
        codebook = try Codebook(config.quantizer, weights)
        parameterCount = weights.tally.count
        self.activationBudget = activationBudget
        workspaces = WorkspacePool(limit: 2, maximumFloats: 6 * activationBudget)
    }

    /// Image side length per token: 2^(levels − 1).
    public var downsampleFactor: Int { config.encoderDecoder.downsampleFactor }

    /// Number of distinct token ids.
    public var codebookSize: Int { codebook.size }

    /// Latent vectors before quantization: quant_conv(encoder(images)) (GSQ: encoder(images)),
    /// [B, e, H/f, W/f].
    /// `images` is [B, 3, H, W] in [−1, 1] with H and W multiples of `downsampleFactor`.
    public func encodeLatents(_ images: Tensor) -> Tensor {
        precondition(images.shape.count == 4 && images.shape[1] == config.encoderDecoder.inChannels,
                     "encode wants [B, \(config.encoderDecoder.inChannels), H, W], got \(images.shape)")
        precondition(images.shape[0] > 0 && images.shape[2] > 0 && images.shape[3] > 0
                     && images.shape[2] % downsampleFactor == 0 && images.shape[3] % downsampleFactor == 0,
                     "encode wants H and W positive multiples of \(downsampleFactor), got \(images.shape)")
        let (batch, perImage) = (images.shape[0], images.count / images.shape[0])
        let chunk = imagesPerChunk(height: images.shape[2], width: images.shape[3])
        var latents = Tensor(zeros: [0])
        workspaces.with { ws in
            for first in stride(from: 0, to: batch, by: chunk) {
                let count = min(chunk, batch - first)
                var x = Tensor(zeros: [0])
                swap(&x, &ws.x)
                x.resize(to: [count] + images.shape.dropFirst())
                x.storage.replaceSubrange(0..<(count * perImage),
                                          with: images.storage[(first * perImage)..<((first + count) * perImage)])
                network.encode(&x, &ws)
                if first == 0 { latents.resize(to: [batch] + x.shape.dropFirst()) }
                append(x, into: &latents, at: first)
                swap(&x, &ws.x)
            }
        }
        return latents
    }

    /// Token ids of `images` ([B, 3, H, W] in [−1, 1], H and W multiples of `downsampleFactor`).
    public func encode(_ images: Tensor) -> TokenGrid {
        quantize(encodeLatents(images))
    }

    /// Nearest-code ids of latent vectors [B, e, h, w] (as `encodeLatents` returns them;
    /// l2-normalized first for the cosine kinds). `encode` = `quantize(encodeLatents(_:))`,
    /// split so that callers can time the encoder and the codebook search apart.
    ///
    /// With g groups, position p's vector is g vectors of e/g channels in a row, so the
    /// queries [B·h·w, e] are already [B·h·w·g, e/g] in the grid's order.
    public func quantize(_ latents: Tensor) -> TokenGrid {
        let width = codebook.dim * codebook.groups
        precondition(latents.shape.count == 4 && latents.shape[1] == width,
                     "quantize wants [B, \(width), h, w], got \(latents.shape)")
        let (batch, height, columns) = (latents.shape[0], latents.shape[2], latents.shape[3])
        var queries = latentVectors(latents)
        if codebook.normalizesLatents { l2NormalizeRows(&queries, dim: codebook.dim) }
        let ids = codebook.nearestCodes(queries, count: batch * height * columns * codebook.groups)
        return TokenGrid(batch: batch, height: height, width: columns, groups: codebook.groups, ids: ids)
    }

    /// The decoder's output for `grid` ([B, 3, h·f, w·f], roughly [−1, 1], not clamped).
    /// Throws `TokenizerError` when the grid is malformed or an id is outside the codebook.
    public func decode(_ grid: TokenGrid) throws -> Tensor {
        let shape = "\(grid.batch)×\(grid.height)×\(grid.width)" + (grid.groups == 1 ? "" : "×\(grid.groups)")
        guard grid.batch > 0, grid.height > 0, grid.width > 0 else {
            throw TokenizerError.invalidGrid("shape \(shape) is empty")
        }
        // The unbiased variance that conditions GSQ's adaptive norms needs two positions.
        guard grid.height * grid.width > 1 || !network.conditionsOnTheLatent else {
            throw TokenizerError.invalidGrid("shape \(shape): this model's decoder needs at least 2 positions")
        }
        guard grid.groups == codebook.groups else {
            throw TokenizerError.invalidGrid("\(grid.groups) ids per position; this model takes \(codebook.groups)")
        }
        guard grid.ids.count == grid.batch * grid.height * grid.width * grid.groups else {
            throw TokenizerError.invalidGrid("\(grid.ids.count) ids for shape \(shape)")
        }
        if let bad = grid.ids.firstIndex(where: { $0 < 0 || Int($0) >= codebook.size }) {
            throw TokenizerError.idOutOfRange(position: bad, id: grid.ids[bad], codebookSize: codebook.size)
        }
        let factor = downsampleFactor
        let chunk = imagesPerChunk(height: grid.height * factor, width: grid.width * factor)
        let perGrid = grid.height * grid.width * grid.groups
        var images = Tensor(zeros: [0])
        workspaces.with { ws in
            for first in stride(from: 0, to: grid.batch, by: chunk) {
                let count = min(chunk, grid.batch - first)
                let ids = Array(grid.ids[(first * perGrid)..<((first + count) * perGrid)])
                var x = Tensor(zeros: [0])
                swap(&x, &ws.x)
                codeVectors(TokenGrid(batch: count, height: grid.height, width: grid.width, groups: grid.groups, ids: ids),
                            into: &x)
                network.decode(&x, &ws)
                if first == 0 { images.resize(to: [grid.batch] + x.shape.dropFirst()) }
                append(x, into: &images, at: first)
                swap(&x, &ws.x)
            }
        }
        return images
    }

    /// Images per chunk at this size: the largest activation of the encoder or decoder (the
    /// widest level at its resolution, or the image itself) within `activationBudget`.
    private func imagesPerChunk(height: Int, width: Int) -> Int {
        let architecture = config.encoderDecoder
        let mults = architecture.chMult
        var largest = max(architecture.inChannels, architecture.outChannels, architecture.ch) * height * width
        for level in mults.indices {
            // A level's blocks see its own width and, in the decoder, the next level's (upsampled).
            let widest = architecture.ch * max(mults[level], mults[min(level + 1, mults.count - 1)])
            largest = max(largest, widest * (height >> level) * (width >> level))
        }
        return max(1, activationBudget / max(1, largest))
    }

    /// Copies the images of `part` ([n, ...]) into `whole` ([B, ...]) from image `first` on.
    private func append(_ part: Tensor, into whole: inout Tensor, at first: Int) {
        let start = first * (part.count / max(1, part.shape[0]))
        whole.storage.replaceSubrange(start..<(start + part.count), with: part.storage)
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

    /// ids → the codebook rows they name (`Codebook.lookup`), as [B, e, h, w]: group g of
    /// position p fills channels g·e/g ..< (g + 1)·e/g.
    private func codeVectors(_ grid: TokenGrid, into out: inout Tensor) {
        let (dim, groups) = (codebook.dim, grid.groups)
        let positions = grid.height * grid.width
        out.resize(to: [grid.batch, dim * groups, grid.height, grid.width])
        for b in 0..<grid.batch {
            for p in 0..<positions {
                for g in 0..<groups {
                    let row = Int(grid.ids[(b * positions + p) * groups + g]) * dim
                    for c in 0..<dim {
                        out.storage[((b * groups + g) * dim + c) * positions + p] = codebook.lookup[row + c]
                    }
                }
            }
        }
    }
}

/// The encoder and decoder of a family, with what sits between them and the quantizer.
enum Network: Sendable {
    /// taming VQGAN, VQGAN-LC, LlamaGen: quant_conv after the encoder, post_quant_conv before
    /// the decoder.
    case taming(Encoder, quantConv: Conv2dLayer, postQuantConv: Conv2dLayer, Decoder)
    /// GSQ: the encoder's output is what is quantized, and the code vectors go straight in.
    case magvit(encoder: MagvitCoder, decoder: MagvitCoder)

    init(_ config: ModelConfig, _ weights: Weights) throws {
        let architecture = config.encoderDecoder
        let context = BlockContext(weights: weights, groups: architecture.normGroups, eps: architecture.normEps)
        let naming: any CheckpointNaming
        switch config.family {
        case .gsq:
            self = .magvit(encoder: try .encoder(architecture, context), decoder: try .decoder(architecture, context))
            return
        case .taming, .vqganLC: naming = TamingNaming()
        case .llamagen: naming = LlamaGenNaming(levels: architecture.chMult.count)
        }
        let (z, e) = (architecture.zChannels, config.quantizer.embedDim)
        let encoder = try Encoder(architecture, context, naming)
        let quantConv = try Conv2dLayer(weights, "quant_conv", in: z, out: e, kernel: 1)
        let postQuantConv = try Conv2dLayer(weights, "post_quant_conv", in: e, out: z, kernel: 1)
        self = .taming(encoder, quantConv: quantConv, postQuantConv: postQuantConv,
                       try Decoder(architecture, context, naming))
    }

    /// Whether the decoder normalizes by statistics of its input (GSQ's adaptive norms).
    var conditionsOnTheLatent: Bool {
        if case .magvit(_, let decoder) = self { decoder.isConditioned } else { false }
    }

    /// x: images on entry, the latents to quantize on return.
    func encode(_ x: inout Tensor, _ ws: inout Workspace) {
        switch self {
        case .taming(let encoder, let quantConv, _, _):
            encoder.forward(&x, &ws)
            quantConv.forward(&ws.a, x, columns: &ws.columns)
            swap(&x, &ws.a)
        case .magvit(let encoder, _):
            encoder.forward(&x, &ws)
        }
    }

    /// x: code vectors on entry, images on return.
    func decode(_ x: inout Tensor, _ ws: inout Workspace) {
        switch self {
        case .taming(_, _, let postQuantConv, let decoder):
            postQuantConv.forward(&ws.b, x, columns: &ws.columns)
            swap(&x, &ws.b)
            decoder.forward(&x, &ws)
        case .magvit(_, let decoder):
            decoder.forward(&x, &ws)
        }
    }
}
