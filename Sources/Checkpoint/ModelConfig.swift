import Foundation

/// The model directory's `config.json`: architecture, quantizer and preprocessing.
/// The schema is documented in Models/README.md; `schemaVersion` changes when it does.
public struct ModelConfig: Codable, Sendable, Equatable {
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    public var name: String
    /// Tensor naming and architecture family: "taming", "vqgan_lc" or "llamagen".
    public var family: Family
    public var encoderDecoder: EncoderDecoderConfig
    public var quantizer: QuantizerConfig
    public var preprocessing: PreprocessingConfig

    public enum Family: String, Codable, Sendable {
        case taming
        case vqganLC = "vqgan_lc"
        case llamagen
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

/// The taming-style encoder/decoder (taming VQGAN, VQGAN-LC, LlamaGen VQ).
public struct EncoderDecoderConfig: Codable, Sendable, Equatable {
    public var ch: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    /// Resolutions (side length in pixels at the model resolution) that get attention.
    /// Used when `attentionPlacement` is `.resolution`.
    public var attnResolutions: [Int]
    /// Side length the network was built for; attention placement is computed from it.
    public var resolution: Int
    public var zChannels: Int
    public var inChannels: Int
    public var outChannels: Int
    public var attentionPlacement: AttentionPlacement
    public var normGroups: Int
    public var normEps: Float

    public enum AttentionPlacement: String, Codable, Sendable {
        /// taming, VQGAN-LC: after each block of a level whose resolution is in `attnResolutions`.
        case resolution
        /// LlamaGen: after each block of the lowest-resolution level.
        case lowestLevel = "lowest_level"
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case ch, chMult = "ch_mult", numResBlocks = "num_res_blocks"
        case attnResolutions = "attn_resolutions", resolution, zChannels = "z_channels"
        case inChannels = "in_channels", outChannels = "out_channels"
        case attentionPlacement = "attention_placement", normGroups = "norm_groups", normEps = "norm_eps"
    }

    public init(ch: Int, chMult: [Int], numResBlocks: Int, attnResolutions: [Int], resolution: Int,
                zChannels: Int, inChannels: Int = 3, outChannels: Int = 3,
                attentionPlacement: AttentionPlacement, normGroups: Int = 32, normEps: Float = 1e-6) {
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

    public enum Kind: String, Codable, Sendable {
        /// Nearest codebook row by squared L2 (taming VectorQuantizer2).
        case l2
        /// VQGAN-LC: nearest row of P = E·Wᵀ + b, P computed once at load.
        case projectedL2 = "projected_l2"
        /// LlamaGen: latent and codebook l2-normalized, nearest by L2 (= max cosine).
        case cosine
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind, codebookSize = "codebook_size", embedDim = "embed_dim"
        case frozenCodebookDim = "frozen_codebook_dim"
    }

    public init(kind: Kind, codebookSize: Int, embedDim: Int, frozenCodebookDim: Int? = nil) {
        self.kind = kind
        self.codebookSize = codebookSize
        self.embedDim = embedDim
        self.frozenCodebookDim = frozenCodebookDim
    }
}

public struct PreprocessingConfig: Codable, Sendable, Equatable {
    /// Side of the square the image is brought to (shortest side resized, then center crop).
    public var resolution: Int
    public var interpolation: Interpolation

    public enum Interpolation: String, Codable, Sendable {
        case bilinear, bicubic
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case resolution, interpolation
    }

    public init(resolution: Int, interpolation: Interpolation = .bilinear) {
        self.resolution = resolution
        self.interpolation = interpolation
    }
}
