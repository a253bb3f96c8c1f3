/// What the restricted unpickler builds. Scalars are values; everything that pickle can share or
/// mutate (containers, objects) lives in an arena and is referred to by index, so that memo
/// sharing, in-place APPEND/SETITEM and even cycles work without reference counting, and freeing
/// a hostile deeply nested graph never recurses.
enum PickleValue: Equatable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// An arena node.
    case node(Int)
}

/// A storage referenced by a persistent id: raw bytes in `data/<key>` of the archive.
struct StorageRef: Equatable {
    let key: String
    let dtype: DType
    /// Number of elements of `dtype` the storage holds, as declared by the pickle.
    let count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
struct TensorView: Equatable {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// A dict in insertion order; string keys are indexed (SETITEM with an existing key replaces).
struct PickleDict: Equatable {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var stringIndex: [String: Int] = [:]

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let s) = key {
            if let i = stringIndex[s] {
                values[i] = value
                return
            }
            stringIndex[s] = keys.count
        }
        keys.append(key)
        values.append(value)
    }

    subscript(key: String) -> PickleValue? { stringIndex[key].map { values[$0] } }

    var count: Int { keys.count }
}

enum PickleNode: Equatable {
    case tuple([PickleValue])
    case list([PickleValue])
    case dict(PickleDict)
    case set([PickleValue])
    /// A GLOBAL reference, never resolved to anything executable.
    case global(module: String, name: String)
    /// An inert placeholder for an object of a class we do not build (its type name kept for messages).
    case object(type: String)
    case storage(StorageRef)
    case tensor(TensorView)
    /// An integer too large for Int64.
    case bigInt
}

extension PickleValue {
    /// A short description for error messages.
    func describe(in arena: [PickleNode]) -> String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return "int \(i)"
        case .float(let d): return "float \(d)"
        case .string(let s): return "str '\(s.prefix(40))'"
        case .bytes(let b): return "bytes (\(b.count))"
        case .node(let i):
            switch arena[i] {
            case .tuple(let t): return "tuple (\(t.count))"
            case .list(let l): return "list (\(l.count))"
            case .dict(let d): return "dict (\(d.count))"
            case .set(let s): return "set (\(s.count))"
            case .global(let m, let n): return "global \(m).\(n)"
            case .object(let type): return "object \(type)"
            case .storage: return "storage"
            case .tensor(let t): return "tensor \(t.shape)"
            case .bigInt: return "int (large)"
            }
        }
    }
}
