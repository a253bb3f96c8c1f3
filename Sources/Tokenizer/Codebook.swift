import Checkpoint
import Tensor

/// The code vectors a quantizer matches latents against and decode looks up, prepared once
/// at load for each `QuantizerConfig.Kind`:
///
///     l2            C = quantize.embedding.weight                     [n, e]
///     projected_l2  C = E·Wᵀ + b  (VQGAN-LC: E = tok_embeddings.weight [n, F],
///                                  W = codebook_projection.weight [e, F], b [e])
///     cosine        C = rows of quantize.embedding.weight / max(‖row‖, 1e-12)   (LlamaGen);
///                   latents are normalized the same way before the search
///     grouped_spherical  C = rows of quantizers.codebook.weight [n, e/g], normalized as for
///                   cosine; each of the g groups of a latent vector is normalized and matched
///                   on its own (GSQ); decode looks up the raw rows (`lookup`)
struct Codebook: Sendable {
    let size: Int
    /// Width of one matched vector: embed_dim / groups.
    let dim: Int
    /// Vectors matched per latent position (ids per position): 1 but for grouped_spherical.
    let groups: Int
    /// [size, dim], row-major: the rows the search matches against.
    let vectors: [Float]
    /// [size, dim]: the rows decode looks up; `vectors` but for grouped_spherical's raw rows.
    let lookup: [Float]
    /// ‖c_j‖², for the search's ‖c‖² − 2 z·c.
    let squaredNorms: [Float]
    let normalizesLatents: Bool
    /// The codes ordered for the search (tree, boxes, augmented rows), built here once.
    let index: CodebookIndex

    init(_ config: QuantizerConfig, _ weights: Weights) throws {
        let (n, e) = (config.codebookSize, config.embedDim)
        let groups = config.idsPerPosition
        guard n > 0, e > 0 else { throw TokenizerError.invalidConfig("codebook \(n)×\(e) is empty") }
        guard groups > 0, e % groups == 0 else {
            throw TokenizerError.invalidConfig("quantizer.groups \(groups) does not divide embed_dim \(e)")
        }
        var vectors: [Float]
        var lookup: [Float]? = nil
        switch config.kind {
        case .l2:
            vectors = try weights.require("quantize.embedding.weight", [n, e]).storage
        case .cosine:
            vectors = try weights.require("quantize.embedding.weight", [n, e]).storage
            l2NormalizeRows(&vectors, dim: e)
        case .groupedSpherical:
            let raw = try weights.require("quantizers.codebook.weight", [n, e / groups]).storage
            (vectors, lookup) = (raw, raw)
            l2NormalizeRows(&vectors, dim: e / groups)
        case .projectedL2:
            guard let frozenDim = config.frozenCodebookDim, frozenDim > 0 else {
                throw TokenizerError.invalidConfig("projected_l2 needs frozen_codebook_dim")
            }
            let projection = try weights.require("codebook_projection.weight", [e, frozenDim])
            let bias = try weights.require("codebook_projection.bias", [e])
            // E (100000×768 in VQGAN-LC: 307 MB) is needed only for P: projected 4096 rows at a
            // time, and never kept.
            vectors = [Float](repeating: 0, count: n * e)
            var projected = Tensor(zeros: [0])
            try weights.forEachRowBlock("tok_embeddings.weight", [n, frozenDim], blockRows: 4096) { frozen, rows in
                linear(&projected, frozen, weight: projection, bias: bias)
                vectors.replaceSubrange((rows.lowerBound * e)..<(rows.upperBound * e), with: projected.storage)
            }
        }
        self.init(vectors: vectors, dim: e / groups, normalizesLatents: config.kind == .cosine || config.kind == .groupedSpherical,
                  groups: groups, lookup: lookup)
    }

    init(vectors: [Float], dim: Int, normalizesLatents: Bool, groups: Int = 1, lookup: [Float]? = nil) {
        precondition(dim > 0 && vectors.count % dim == 0, "codebook of \(vectors.count) values is not [n, \(dim)]")
        precondition(groups > 0 && (lookup?.count ?? vectors.count) == vectors.count)
        self.size = vectors.count / dim
        self.dim = dim
        self.groups = groups
        self.vectors = vectors
        self.lookup = lookup ?? vectors
        let squaredNorms = (0..<size).map { j in
            var sum: Float = 0
            for c in 0..<dim { sum += vectors[j * dim + c] * vectors[j * dim + c] }
            return sum
        }
        self.squaredNorms = squaredNorms
        self.normalizesLatents = normalizesLatents
        self.index = CodebookIndex(vectors: vectors, squaredNorms: squaredNorms, dim: dim)
    }
}

/// x ← x / max(‖x‖, 1e-12) for each row of a row-major [rows, dim] matrix (torch F.normalize).
func l2NormalizeRows(_ values: inout [Float], dim: Int) {
    values.withUnsafeMutableBufferPointer { buf in
        for start in stride(from: 0, to: buf.count, by: dim) {
            var sum: Float = 0
            for c in 0..<dim { sum += buf[start + c] * buf[start + c] }
            let inverse = 1 / max(sum.squareRoot(), 1e-12)
            for c in 0..<dim { buf[start + c] *= inverse }
        }
    }
}
