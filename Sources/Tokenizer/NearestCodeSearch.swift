import Tensor

/// Nearest codebook row by squared L2 over a plain codebook: the same search that
/// `VQTokenizer.encode` runs (`Codebook.nearestCodes`), public so that `vqtok bench search` can
/// time it alone (Scripts/bench/run.py compares it with FAISS). Ties resolve to the lowest index.
public struct NearestCodeSearch: Sendable {
    let codebook: Codebook

    /// `codebook` is [n, d]; the row norms and the search index are built here, once.
    public init(codebook: Tensor) {
        precondition(codebook.shape.count == 2 && codebook.shape[0] > 0 && codebook.shape[1] > 0,
                     "NearestCodeSearch wants a codebook [n, d], got \(codebook.shape)")
        self.codebook = Codebook(vectors: codebook.storage, dim: codebook.shape[1], normalizesLatents: false)
    }

    public var size: Int { codebook.size }
    public var dim: Int { codebook.dim }

    /// The nearest row's index for each row of `queries` ([q, d]).
    public func nearest(_ queries: Tensor) -> [Int32] {
        precondition(queries.shape.count == 2 && queries.shape[1] == codebook.dim,
                     "queries \(queries.shape) do not match a codebook of dimension \(codebook.dim)")
        return codebook.nearestCodes(queries.storage, count: queries.shape[0])
    }
}
