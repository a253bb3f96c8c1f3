/// How the unpickler interprets GLOBAL + REDUCE / NEWOBJ and persistent ids. Only torch's tensor
/// rebuilding and a few containers produce data; every other callable becomes an inert
/// `.object` placeholder: nothing named by the file is ever looked up or called.
extension Unpickler {
    private func global(_ value: PickleValue) -> (module: String, name: String)? {
        guard case .node(let i) = value, case .global(let module, let name) = arena[i] else { return nil }
        return (module, name)
    }

    func typeName(_ value: PickleValue) -> String {
        if let g = global(value) { return "\(g.module).\(g.name)" }
        return value.describe(in: arena)
    }

    private func tuple(_ value: PickleValue) -> [PickleValue]? {
        guard case .node(let i) = value else { return nil }
        switch arena[i] {
        case .tuple(let t), .list(let t): return t
        default: return nil
        }
    }

    private func nonNegativeInt(_ value: PickleValue, _ what: String) throws(CheckpointError) -> Int {
        guard case .int(let v) = value, v >= 0, let i = Int(exactly: v) else {
            throw fail("\(what) is \(value.describe(in: arena)), expected a non-negative integer")
        }
        return i
    }

    private func intTuple(_ value: PickleValue, _ what: String) throws(CheckpointError) -> [Int] {
        guard let items = tuple(value) else { throw fail("\(what) is \(value.describe(in: arena)), expected a tuple") }
        var out: [Int] = []
        for item in items { out.append(try nonNegativeInt(item, what)) }
        return out
    }

    /// `callable(*args)` for the callables a checkpoint needs; a placeholder for all others.
    mutating func reduce(_ callable: PickleValue, _ args: PickleValue) throws(CheckpointError) -> PickleValue {
        guard let g = global(callable) else {
            // Calling a non-global (e.g. a placeholder) builds another placeholder.
            return add(.object(type: "result of \(callable.describe(in: arena))"))
        }
        let argv = tuple(args) ?? []
        switch (g.module, g.name) {
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            guard argv.count >= 4 else { throw fail("\(g.name) with \(argv.count) arguments") }
            return try rebuildTensor(argv, dtype: nil)
        case ("torch._utils", "_rebuild_tensor_v3"):
            // (untyped storage, offset, size, stride, requires_grad, hooks, dtype[, metadata]): newer dtypes.
            guard argv.count >= 7, let dtype = global(argv[6]) else {
                throw fail("_rebuild_tensor_v3 with \(argv.count) arguments")
            }
            guard dtype.module == "torch", let element = Self.tensorDTypes[dtype.name] else {
                throw .unsupported("tensor dtype \(dtype.module).\(dtype.name)")
            }
            return try rebuildTensor(argv, dtype: element)
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard let data = argv.first else { throw fail("\(g.name) without arguments") }
            return data
        case ("torch._tensor", "_rebuild_from_type_v2"):
            // (func, new_type, args, state): a tensor subclass; rebuild the plain tensor.
            guard argv.count >= 3 else { throw fail("_rebuild_from_type_v2 with \(argv.count) arguments") }
            return try reduce(argv[0], argv[2])
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            let dict = add(.dict(PickleDict()))
            if let pairs = argv.first.flatMap(tuple) {
                for pair in pairs {
                    guard let kv = tuple(pair), kv.count == 2 else { throw fail("\(g.name) item is not a pair") }
                    guard case .node(let i) = dict, case .dict(var d) = arena[i] else { break }
                    d.set(kv[0], kv[1])
                    arena[i] = .dict(d)
                }
            }
            return dict
        case ("builtins", "set"), ("__builtin__", "set"), ("builtins", "frozenset"), ("__builtin__", "frozenset"):
            return add(.set(argv.first.flatMap(tuple) ?? []))
        case ("torch", "Size"), ("builtins", "tuple"), ("__builtin__", "tuple"):
            return add(.tuple(argv.first.flatMap(tuple) ?? []))
        case ("builtins", "list"), ("__builtin__", "list"):
            return add(.list(argv.first.flatMap(tuple) ?? []))
        case ("_codecs", "encode"):
            // bytes pickled under protocol 2: _codecs.encode(text, 'latin1').
            guard argv.count == 2, case .string(let text) = argv[0], case .string(let codec) = argv[1],
                  codec == "latin1" || codec == "latin-1" else {
                return add(.object(type: "_codecs.encode"))
            }
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw fail("_codecs.encode latin1 of a character above U+00FF") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)
        case ("builtins", "bytearray"), ("__builtin__", "bytearray"):
            if case .bytes(let b)? = argv.first { return .bytes(b) }
            return add(.object(type: "bytearray"))
        default:
            return add(.object(type: "\(g.module).\(g.name)"))
        }
    }

    /// `cls.__new__(cls, *args)`: OrderedDict and plain containers, placeholders otherwise.
    mutating func newObject(_ cls: PickleValue, _ args: PickleValue) throws(CheckpointError) -> PickleValue {
        switch global(cls).map({ "\($0.module).\($0.name)" }) {
        case "collections.OrderedDict", "builtins.dict": return add(.dict(PickleDict()))
        case "builtins.set", "builtins.frozenset": return add(.set([]))
        default: return add(.object(type: typeName(cls)))
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)`.
    /// `_rebuild_tensor_v3` passes the element type separately over an untyped (byte) storage.
    private mutating func rebuildTensor(_ argv: [PickleValue], dtype: DType?) throws(CheckpointError) -> PickleValue {
        guard case .node(let i) = argv[0], case .storage(var storage) = arena[i] else {
            throw fail("tensor storage is \(argv[0].describe(in: arena)), expected a persistent storage")
        }
        if let dtype, dtype != storage.dtype {
            guard storage.dtype == .u8 else {
                throw fail("_rebuild_tensor_v3 of \(dtype.rawValue) over a typed \(storage.dtype.rawValue) storage")
            }
            storage = StorageRef(key: storage.key, dtype: dtype, count: storage.count / dtype.size)
        }
        let offset = try nonNegativeInt(argv[1], "tensor storage offset")
        let shape = try intTuple(argv[2], "tensor size")
        let strides = try intTuple(argv[3], "tensor stride")
        guard shape.count == strides.count else {
            throw fail("tensor size \(shape) and stride \(strides) differ in rank")
        }
        return add(.tensor(TensorView(storage: storage, offset: offset, shape: shape, strides: strides)))
    }

    /// torch.save persistent ids: `('storage', torch.<X>Storage, key, location, numel)`.
    mutating func persistentLoad(_ pid: PickleValue) throws(CheckpointError) -> PickleValue {
        guard let items = tuple(pid), items.count >= 5, case .string("storage") = items[0] else {
            throw fail("unsupported persistent id \(pid.describe(in: arena))")
        }
        guard let type = global(items[1]), type.module == "torch" || type.module == "torch.storage" else {
            throw fail("storage type is \(typeName(items[1]))")
        }
        guard let dtype = Self.storageTypes[type.name] else {
            throw .unsupported("storage type torch.\(type.name)")
        }
        guard case .string(let key) = items[2] else { throw fail("storage key is \(items[2].describe(in: arena))") }
        let count = try nonNegativeInt(items[4], "storage size")
        return add(.storage(StorageRef(key: key, dtype: dtype, count: count)))
    }

    /// `torch.<dtype>` names as `_rebuild_tensor_v3` pickles them.
    static let tensorDTypes: [String: DType] = [
        "float32": .f32, "float": .f32, "float16": .f16, "half": .f16, "bfloat16": .bf16, "float64": .f64,
        "double": .f64, "int64": .i64, "long": .i64, "int32": .i32, "int": .i32, "int16": .i16, "short": .i16,
        "int8": .i8, "uint8": .u8, "bool": .bool, "uint16": .u16, "uint32": .u32, "uint64": .u64,
    ]

    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool, "UntypedStorage": .u8,
    ]
}

/// Decoding of protocol 0/1 text opcodes.
enum PickleText {
    static func latin1(_ bytes: [UInt8]) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// UNICODE ('V'): raw-unicode-escape, i.e. latin-1 with \uXXXX and \UXXXXXXXX escapes.
    static func rawUnicodeEscape(_ bytes: [UInt8]) throws(CheckpointError) -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count,
               bytes[i + 1] == UInt8(ascii: "u") || bytes[i + 1] == UInt8(ascii: "U") {
                let digits = bytes[i + 1] == UInt8(ascii: "u") ? 4 : 8
                guard i + 2 + digits <= bytes.count,
                      let v = UInt32(String(decoding: bytes[(i + 2)..<(i + 2 + digits)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else {
                    throw .malformed("pickle: invalid \\u escape in UNICODE")
                }
                scalars.append(scalar)
                i += 2 + digits
            } else {
                scalars.append(Unicode.Scalar(bytes[i]))
                i += 1
            }
        }
        return String(scalars)
    }

    /// STRING ('S'): a quoted Python 2 literal; common escapes decoded, as latin-1 text.
    static func quoted(_ bytes: [UInt8]) throws(CheckpointError) -> String {
        guard bytes.count >= 2, let q = bytes.first, q == bytes.last, q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else {
            throw .malformed("pickle: STRING argument is not quoted")
        }
        let body = bytes[1..<(bytes.count - 1)]
        var out: [UInt8] = []
        var it = body.makeIterator()
        while let c = it.next() {
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard let e = it.next() else { throw .malformed("pickle: STRING ends in a backslash") }
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                guard let h = it.next(), let l = it.next(),
                      let v = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16) else {
                    throw .malformed("pickle: invalid \\x escape in STRING")
                }
                out.append(v)
            default: out.append(e)
            }
        }
        return latin1(out)
    }
}
