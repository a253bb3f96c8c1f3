import Foundation

/// The model directory's `config.json`: architecture, quantizer and preprocessing.
/// The schema is documented in Models/README.md; `schemaVersion` changes when it does.
public struct ModelConfig: Codable, Sendable, Equatable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    public var name: String
    /// Tensor naming and architecture family: "taming", "vqgan_lc", "llamagen" or "gsq".
    public var family: Family
    public var encoderDecoder: EncoderDecoderConfig
    public var quantizer: QuantizerConfig
    public var preprocessing: PreprocessingConfig

    public enum Family: String, Codable, Sendable {
        case taming
        case vqganLC = "vqgan_lc"
        case llamagen
        /// GSQ (flex_gen's flexTokenizer): the MAGVIT-v2-like encoder/decoder, grouped spherical
        /// quantizer.
        case gsq
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion = "schema_version", name, family
        case encoderDecoder = "encoder_decoder", quantizer, preprocessing
    }

    public init(schemaVersion: Int = ModelConfig.currentSchemaVersion, name: String, family: Family,
                encoderDecoder: EncoderDecoderConfig, quantizer: QuantizerConfig,
                preprocessing: PreprocessingConfig) {
        self.schemaVersion = schemaVersion
        self.name = name
        self.family = family
        self.encoderDecoder = encoderDecoder
        self.quantizer = quantizer
        self.preprocessing = preprocessing
    }
}

/// The encoder/decoder: taming-style (taming VQGAN, VQGAN-LC, LlamaGen VQ) or, for family gsq,
/// MAGVIT-v2-style (`encoderBlocks`, `decoderBlocks` and the three switches below).
public struct EncoderDecoderConfig: Codable, Sendable, Equatable {
    public var ch: Int
    public var chMult: [Int]
    /// taming families: ResnetBlocks per level (the decoder has one more).
    public var numResBlocks: Int?
    /// Where attention goes, read by `attentionPlacement`: side lengths in pixels at the model
    /// resolution (`.resolution`) or downsampling factors (`.downsampleFactor`).
    public var attnResolutions: [Int]
    /// Side length the network was built for; attention placement is computed from it.
    public var resolution: Int
    public var zChannels: Int
    public var inChannels: Int
    public var outChannels: Int
    public var attentionPlacement: AttentionPlacement
    public var normGroups: Int
    /// The GroupNorms' eps (gsq: those of the ResNet blocks and final layers; its attention and
    /// adaptive norms use upstream's fixed 1e-6).
    public var normEps: Float
    /// gsq: ResNet blocks per level, then the middle's (levels + 1 counts; upstream
    /// `encoder_layer_configs`, `decoder_layer_configs`).
    public var encoderBlocks: [Int]?
    public var decoderBlocks: [Int]?
    /// gsq: attention between consecutive middle blocks (`mid_block_attn`).
    public var midAttention: Bool?
    /// gsq: an adaptive GroupNorm conditioned on the quantized latent after the decoder's middle
    /// and after each upsampling (`use_adaptive_norm`).
    public var adaptiveNorm: Bool?
    /// gsq: upsampling by a 3×3 conv to 4C then depth-to-space, instead of nearest ×2 and a conv
    /// (`use_learnable_up_down_sample`).
    public var depthToSpace: Bool?

    public enum AttentionPlacement: String, Codable, Sendable {
        /// taming, VQGAN-LC: after each block of a level whose resolution is in `attnResolutions`.
        case resolution
        /// LlamaGen: after each block of the lowest-resolution level.
        case lowestLevel = "lowest_level"
        /// gsq: after each block of a level whose downsampling factor is in `attnResolutions`.
        case downsampleFactor = "downsample_factor"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ch, chMult = "ch_mult", numResBlocks = "num_res_blocks"
        case attnResolutions = "attn_resolutions", resolution, zChannels = "z_channels"
        case inChannels = "in_channels", outChannels = "out_channels"
        case attentionPlacement = "attention_placement", normGroups = "norm_groups", normEps = "norm_eps"
        case encoderBlocks = "encoder_blocks", decoderBlocks = "decoder_blocks", midAttention = "mid_attention"
        case adaptiveNorm = "adaptive_norm", depthToSpace = "depth_to_space"
    }

    public init(ch: Int, chMult: [Int], numResBlocks: Int?, attnResolutions: [Int], resolution: Int,
                zChannels: Int, inChannels: Int = 3, outChannels: Int = 3,
                attentionPlacement: AttentionPlacement, normGroups: Int = 32, normEps: Float = 1e-6,
                encoderBlocks: [Int]? = nil, decoderBlocks: [Int]? = nil, midAttention: Bool? = nil,
                adaptiveNorm: Bool? = nil, depthToSpace: Bool? = nil) {
        self.ch = ch
        self.chMult = chMult
        self.numResBlocks = numResBlocks
        self.attnResolutions = attnResolutions
        self.resolution = resolution
        self.zChannels = zChannels
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.attentionPlacement = attentionPlacement
        self.normGroups = normGroups
        self.normEps = normEps
        self.encoderBlocks = encoderBlocks
        self.decoderBlocks = decoderBlocks
        self.midAttention = midAttention
        self.adaptiveNorm = adaptiveNorm
        self.depthToSpace = depthToSpace
    }

    /// Spatial downsampling factor of the encoder: 2^(levels - 1).
    public var downsampleFactor: Int { 1 << (chMult.count - 1) }
}

public struct QuantizerConfig: Codable, Sendable, Equatable {
    public var kind: Kind
    public var codebookSize: Int
    /// Width of the latent vectors that are matched (quant_conv's output channels).
    public var embedDim: Int
    /// `projectedL2` only: width of the frozen codebook `tok_embeddings` (768 upstream).
    public var frozenCodebookDim: Int?
    /// `groupedSpherical` only: the latent's channels split into this many groups, each matched
    /// on its own (embed_dim / groups wide), giving as many ids per position.
    public var groups: Int?

    public enum Kind: String, Codable, Sendable {
        /// Nearest codebook row by squared L2 (taming VectorQuantizer2).
        case l2
        /// VQGAN-LC: nearest row of P = E·Wᵀ + b, P computed once at load.
        case projectedL2 = "projected_l2"
        /// LlamaGen: latent and codebook l2-normalized, nearest by L2 (= max cosine).
        case cosine
        /// GSQ: each group of the latent and every codebook row l2-normalized, nearest by L2;
        /// decode looks up the raw (unnormalized) rows.
        case groupedSpherical = "grouped_spherical"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, codebookSize = "codebook_size", embedDim = "embed_dim"
        case frozenCodebookDim = "frozen_codebook_dim", groups
    }

    public init(kind: Kind, codebookSize: Int, embedDim: Int, frozenCodebookDim: Int? = nil, groups: Int? = nil) {
        self.kind = kind
        self.codebookSize = codebookSize
        self.embedDim = embedDim
        self.frozenCodebookDim = frozenCodebookDim
        self.groups = groups
    }

    /// Ids per position: `groups` for the grouped kind, else 1.
    public var idsPerPosition: Int { groups ?? 1 }
}

public struct PreprocessingConfig: Codable, Sendable, Equatable {
    /// Side of the square the image is brought to (shortest side resized, then center crop).
    public var resolution: Int
    public var interpolation: Interpolation
    /// What the shortest side is resized to before the center `resolution` crop, when larger
    /// than `resolution` (timm's evaluation resize, e.g. 292 = ⌊256 / 0.875⌋ for GSQ); nil:
    /// `resolution`.
    public var shortestSide: Int?
    /// How the square is cut (default `.shortestSide`).
    public var centerCrop: CenterCrop?

    public enum CenterCrop: String, Codable, Sendable {
        /// The shortest side resized (to `shortestSide` or `resolution`), then the center square.
        case shortestSide = "shortest_side"
        /// LlamaGen's `center_crop_arr` (from ADM): box-filter halvings while the shortest side
        /// is at least twice the resolution, bicubic to the resolution, then the center square.
        case adm
    }

    public enum Interpolation: String, Codable, Sendable {
        case bilinear, bicubic
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case resolution, interpolation, shortestSide = "shortest_side", centerCrop = "center_crop"
    }

    public init(resolution: Int, interpolation: Interpolation = .bilinear, shortestSide: Int? = nil,
                centerCrop: CenterCrop? = nil) {
        self.resolution = resolution
        self.interpolation = interpolation
        self.shortestSide = shortestSide
        self.centerCrop = centerCrop
    }

    /// The side the shortest side is resized to before the center crop.
    public var resizedSide: Int { shortestSide ?? resolution }
}
