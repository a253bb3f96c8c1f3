import Foundation

extension ModelConfig {
    /// Reads and validates a config.json image: strict JSON (no duplicate keys), the schema
    /// version first, no unknown fields (a typo fails loudly), then the cross-field rules.
    public static func decode(_ bytes: [UInt8]) throws(CheckpointError) -> ModelConfig {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw .invalidConfig("config.json is not valid JSON: \(error)")
        }
        guard case .object(let top) = json else { throw .invalidConfig("config.json is not a JSON object") }
        guard let version = top.first(where: { $0.0 == "schema_version" })?.1 else {
            throw .invalidConfig("schema_version is missing (this vqtok reads schema_version \(currentSchemaVersion))")
        }
        guard version == .int(currentSchemaVersion) else {
            throw .invalidConfig("schema_version \(render(version)) is not supported; this vqtok reads schema_version \(currentSchemaVersion) (see Models/README.md)")
        }
        try checkFields(json, path: "", known: CodingKeys.allCases.map(\.rawValue))
        if case .object(let ed)? = top.first(where: { $0.0 == "encoder_decoder" })?.1 {
            try checkFields(.object(ed), path: "encoder_decoder.",
                            known: EncoderDecoderConfig.CodingKeys.allCases.map(\.rawValue))
        }
        if case .object(let q)? = top.first(where: { $0.0 == "quantizer" })?.1 {
            try checkFields(.object(q), path: "quantizer.", known: QuantizerConfig.CodingKeys.allCases.map(\.rawValue))
        }
        if case .object(let p)? = top.first(where: { $0.0 == "preprocessing" })?.1 {
            try checkFields(.object(p), path: "preprocessing.",
                            known: PreprocessingConfig.CodingKeys.allCases.map(\.rawValue))
        }
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw .invalidConfig(describe(error))
        } catch {
            throw .invalidConfig("\(error)")
        }
        try config.validate()
        return config
    }

    /// Reads and validates `url` (a config.json file).
    public static func load(contentsOf url: URL) throws(CheckpointError) -> ModelConfig {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw .io("\(url.path): \(error.localizedDescription)")
        }
        guard data.count <= 1 << 20 else { throw .invalidConfig("\(url.path) is larger than 1 MiB") }
        return try decode([UInt8](data))
    }

    /// The cross-field rules the architecture relies on. Each error names the field.
    public func validate() throws(CheckpointError) {
        func fail(_ why: String) -> CheckpointError { .invalidConfig(why) }
        guard !name.isEmpty else { throw fail("name is empty") }
        let ed = encoderDecoder
        guard ed.ch > 0 else { throw fail("encoder_decoder.ch must be positive, got \(ed.ch)") }
        guard (1...8).contains(ed.chMult.count) else {
            throw fail("encoder_decoder.ch_mult must have 1 to 8 levels, got \(ed.chMult.count)")
        }
        guard ed.chMult.allSatisfy({ $0 > 0 }) else {
            throw fail("encoder_decoder.ch_mult values must be positive, got \(ed.chMult)")
        }
        try validateBlocks()
        for (field, value) in [("z_channels", ed.zChannels), ("in_channels", ed.inChannels),
                               ("out_channels", ed.outChannels), ("norm_groups", ed.normGroups),
                               ("resolution", ed.resolution)] where value <= 0 {
            throw fail("encoder_decoder.\(field) must be positive, got \(value)")
        }
        guard ed.normEps > 0, ed.normEps.isFinite else {
            throw fail("encoder_decoder.norm_eps must be a positive number, got \(ed.normEps)")
        }
        for m in [1] + ed.chMult {
            guard let channels = Checked.multiply(ed.ch, m), channels <= 1 << 16 else {
                throw fail("encoder_decoder.ch × ch_mult value \(m) is too large")
            }
            guard channels % ed.normGroups == 0 else {
                throw fail("encoder_decoder.ch × ch_mult (\(ed.ch) × \(m) = \(channels)) is not a multiple of norm_groups \(ed.normGroups)")
            }
        }
        let factor = ed.downsampleFactor
        guard ed.resolution % factor == 0 else {
            throw fail("encoder_decoder.resolution \(ed.resolution) is not divisible by the downsampling factor \(factor) (2^(levels-1))")
        }
        if ed.attentionPlacement != .lowestLevel {
            // attn_resolutions names levels by their side length, or (gsq) by their downsampling factor.
            let bySide = ed.attentionPlacement == .resolution
            let levels = (0..<ed.chMult.count).map { bySide ? ed.resolution >> $0 : 1 << $0 }
            for r in ed.attnResolutions where !levels.contains(r) {
                throw fail("encoder_decoder.attn_resolutions value \(r) matches no level (level "
                    + "\(bySide ? "resolutions" : "downsampling factors"): \(levels))")
            }
        }
        let q = quantizer
        guard q.codebookSize > 0, q.codebookSize <= Int(Int32.max) else {
            throw fail("quantizer.codebook_size must be in 1...\(Int32.max), got \(q.codebookSize)")
        }
        guard q.embedDim > 0 else { throw fail("quantizer.embed_dim must be positive, got \(q.embedDim)") }
        switch q.kind {
        case .projectedL2:
            guard let frozen = q.frozenCodebookDim else {
                throw fail("quantizer.kind projected_l2 needs quantizer.frozen_codebook_dim")
            }
            guard frozen > 0 else { throw fail("quantizer.frozen_codebook_dim must be positive, got \(frozen)") }
            guard family == .vqganLC else {
                throw fail("quantizer.kind projected_l2 is the vqgan_lc family's quantizer, family is \(family.rawValue)")
            }
        case .l2, .cosine:
            guard q.frozenCodebookDim == nil else {
                throw fail("quantizer.frozen_codebook_dim is only meaningful for kind projected_l2, kind is \(q.kind.rawValue)")
            }
            guard family != .vqganLC else { throw fail("family vqgan_lc needs quantizer.kind projected_l2") }
            guard family != .gsq else { throw fail("family gsq needs quantizer.kind grouped_spherical") }
        case .groupedSpherical:
            guard family == .gsq else {
                throw fail("quantizer.kind grouped_spherical is the gsq family's quantizer, family is \(family.rawValue)")
            }
            guard let groups = q.groups, groups > 0, q.embedDim % groups == 0 else {
                throw fail("quantizer.kind grouped_spherical needs quantizer.groups, a positive divisor of embed_dim \(q.embedDim)")
            }
            // The encoder's last conv gives the latent that is quantized: there is no quant_conv.
            guard ed.zChannels == q.embedDim else {
                throw fail("family gsq has no quant_conv: encoder_decoder.z_channels (\(ed.zChannels)) must equal quantizer.embed_dim (\(q.embedDim))")
            }
        }
        if q.kind != .groupedSpherical, q.groups != nil {
            throw fail("quantizer.groups is only meaningful for kind grouped_spherical, kind is \(q.kind.rawValue)")
        }
        let p = preprocessing
        guard p.resolution > 0, p.resolution % factor == 0 else {
            throw fail("preprocessing.resolution \(p.resolution) must be positive and divisible by the downsampling factor \(factor)")
        }
        if let side = p.shortestSide, !(p.resolution...(16 * p.resolution)).contains(side) {
            throw fail("preprocessing.shortest_side \(side) must be from resolution \(p.resolution) to 16 times it")
        }
        if p.centerCrop == .adm {
            // ADM's crop always ends in a bicubic resize to the resolution itself.
            guard p.interpolation == .bicubic, p.shortestSide == nil else {
                throw fail("preprocessing.center_crop adm resizes with bicubic to the resolution: it needs interpolation bicubic and no shortest_side")
            }
        }
    }

    /// The block counts and switches of the two encoder/decoder styles: each family names its
    /// own and none of the other's.
    private func validateBlocks() throws(CheckpointError) {
        func fail(_ why: String) -> CheckpointError { .invalidConfig(why) }
        let ed = encoderDecoder
        let magvitFields = [("encoder_blocks", ed.encoderBlocks != nil), ("decoder_blocks", ed.decoderBlocks != nil),
                            ("mid_attention", ed.midAttention != nil), ("adaptive_norm", ed.adaptiveNorm != nil),
                            ("depth_to_space", ed.depthToSpace != nil)]
        guard family == .gsq else {
            guard let blocks = ed.numResBlocks else { throw fail("missing field encoder_decoder.num_res_blocks") }
            guard blocks > 0 else { throw fail("encoder_decoder.num_res_blocks must be positive, got \(blocks)") }
            if let (field, _) = magvitFields.first(where: { $0.1 }) {
                throw fail("encoder_decoder.\(field) is only meaningful for family gsq, family is \(family.rawValue)")
            }
            guard ed.attentionPlacement != .downsampleFactor else {
                throw fail("encoder_decoder.attention_placement downsample_factor is the gsq family's, family is \(family.rawValue)")
            }
            return
        }
        guard ed.numResBlocks == nil else {
            throw fail("family gsq counts its blocks in encoder_decoder.encoder_blocks and decoder_blocks, not num_res_blocks")
        }
        guard ed.attentionPlacement == .downsampleFactor else {
            throw fail("family gsq places attention by encoder_decoder.attention_placement downsample_factor")
        }
        for (field, counts) in [("encoder_blocks", ed.encoderBlocks), ("decoder_blocks", ed.decoderBlocks)] {
            guard let counts else { throw fail("family gsq needs encoder_decoder.\(field)") }
            guard counts.count == ed.chMult.count + 1 else {
                throw fail("encoder_decoder.\(field) needs \(ed.chMult.count + 1) counts (one per level, then the middle), got \(counts.count)")
            }
            guard counts.allSatisfy({ (0...64).contains($0) }) else {
                throw fail("encoder_decoder.\(field) values must be in 0...64, got \(counts)")
            }
        }
    }

    private static func checkFields(_ value: JSONValue, path: String, known: [String]) throws(CheckpointError) {
        guard case .object(let members) = value else { return }
        for (key, _) in members where !known.contains(key) {
            throw .invalidConfig("unknown field \(path)\(key) (known: \(known.joined(separator: ", ")))")
        }
    }

    private static func render(_ value: JSONValue) -> String {
        switch value {
        case .int(let v): "\(v)"
        case .double(let v): "\(v)"
        case .string(let s): "\"\(s)\""
        default: value.typeName
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "missing field \(parent.isEmpty ? "" : parent + ".")\(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field \(path(context.codingPath)) has the wrong type: \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "field \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
