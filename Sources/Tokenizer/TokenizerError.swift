/// Why a tokenizer could not be built or a request could not be served.
/// Weight problems are reported as `CheckpointError` (naming the tensor) instead.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(String)
    case invalidGrid(String)
    case idOutOfRange(position: Int, id: Int32, codebookSize: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let why): "invalid model config: \(why)"
        case .invalidGrid(let why): "invalid token grid: \(why)"
        case .idOutOfRange(let position, let id, let size):
            "token id \(id) at position \(position) is outside the codebook [0, \(size))"
        }
    }
}
