/// Token-id files for the command line, in the formats the HTTP API speaks (api.md): ids JSON
/// and numpy's .npy. Reading checks them against the model exactly as the decode route does.
public enum IdsFile {
    public enum Format: String, Sendable, CaseIterable {
        case json, npy
    }

    /// `grids` as one file; a batch is a JSON list, or one .npy array with a leading batch axis.
    public static func write(_ grids: [IdGrid], model: String, codebookSize: Int,
                             format: Format, batched: Bool) -> [UInt8] {
        precondition(!grids.isEmpty && (batched || grids.count == 1), "one grid, or a batch")
        switch format {
        case .json:
            return IdsJSON.encode(model: model, codebookSize: codebookSize, grids: grids, batched: batched)
        case .npy:
            let shape = batched ? [grids.count] + grids[0].shape : grids[0].shape
            return NPY.encode(shape: shape, dtype: IdDType(codebookSize: codebookSize),
                              values: grids.flatMap(\.ids))
        }
    }

    /// The grids in a .npy (recognised by its magic) or ids JSON file, checked against `spec`.
    public static func read(_ bytes: [UInt8], spec: IdsSpec) throws(ServiceError) -> [IdGrid] {
        if bytes.starts(with: NPY.magic) {
            let array = try NPY.decode(bytes)
            return try spec.grids(shape: array.shape, values: array.values).grids
        }
        return try IdsJSON.decode(bytes, spec: spec).grids
    }
}
