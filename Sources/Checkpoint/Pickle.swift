/// A restricted unpickler (pickle protocols 0 to 5) that builds data and never runs anything.
///
/// GLOBAL only records a (module, name) pair; REDUCE, NEWOBJ and BUILD are interpreted for the
/// handful of callables a torch.save checkpoint needs (tensor rebuilding, OrderedDict, sets,
/// `_codecs.encode`) and produce inert placeholders for everything else. Every length is checked
/// against the remaining bytes before anything is allocated.
struct Unpickler {
    var reader: ByteReader
    var arena: [PickleNode] = []
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    init(_ bytes: UnsafeRawBufferPointer) { reader = ByteReader(bytes) }

    func fail(_ why: String) -> CheckpointError { .malformed("pickle: \(why) (at byte \(reader.position))") }

    mutating func add(_ node: PickleNode) -> PickleValue {
        arena.append(node)
        return .node(arena.count - 1)
    }

    private mutating func pop() throws(CheckpointError) -> PickleValue {
        guard let top = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw fail("stack underflow") }
        return top
    }

    /// The items pushed since the last MARK, removed from the stack together with the mark.
    private mutating func popMark() throws(CheckpointError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail("no MARK on the stack") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func top() throws(CheckpointError) -> PickleValue {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw fail("stack underflow") }
        return top
    }

    private mutating func count(_ n: UInt64) throws(CheckpointError) -> Int {
        guard n <= UInt64(reader.remaining) else { throw fail("length \(n) runs past the end of the pickle") }
        return Int(n)
    }

    private mutating func line() throws(CheckpointError) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let c = try reader.u8()
            if c == 0x0A { return out }
            out.append(c)
        }
    }

    private mutating func text(_ n: Int) throws(CheckpointError) -> String {
        let bytes = try reader.bytes(n)
        guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("string is not UTF-8") }
        return s
    }

    private mutating func lineText() throws(CheckpointError) -> String {
        let bytes = try line()
        guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("text line is not UTF-8") }
        return s
    }

    private mutating func setMemo(_ index: Int) throws(CheckpointError) {
        memo[index] = try top()
    }

    private mutating func getMemo(_ index: Int) throws(CheckpointError) {
        guard let v = memo[index] else { throw fail("memo key \(index) was never stored") }
        stack.append(v)
    }

    /// Little-endian two's complement integer of `n` bytes (LONG1, LONG4).
    private mutating func long(_ n: Int) throws(CheckpointError) -> PickleValue {
        let bytes = try reader.bytes(n)
        if n == 0 { return .int(0) }
        guard n <= 8 else { return add(.bigInt) }
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if n < 8, bytes[n - 1] & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
        return .int(Int64(bitPattern: v))
    }

    private func items(of value: PickleValue) -> [PickleValue]? {
        guard case .node(let i) = value else { return nil }
        switch arena[i] {
        case .tuple(let t), .list(let t), .set(let t): return t
        default: return nil
        }
    }

    private mutating func appendItems(_ items: [PickleValue], to target: PickleValue) throws(CheckpointError) {
        guard case .node(let i) = target else { throw fail("APPEND to \(target.describe(in: arena))") }
        switch arena[i] {
        case .list(var list):
            arena[i] = .bigInt   // releases the array so the mutation below does not copy it
            list.append(contentsOf: items)
            arena[i] = .list(list)
        case .set(var set):
            arena[i] = .bigInt   // releases the array so the mutation below does not copy it
            set.append(contentsOf: items)
            arena[i] = .set(set)
        case .object: break   // an inert placeholder absorbs whatever is added to it
        default: throw fail("APPEND to \(target.describe(in: arena))")
        }
    }

    private mutating func setItems(_ pairs: [PickleValue], in target: PickleValue) throws(CheckpointError) {
        guard pairs.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        guard case .node(let i) = target else { throw fail("SETITEM on \(target.describe(in: arena))") }
        switch arena[i] {
        case .dict(var dict):
            arena[i] = .bigInt   // releases the array so the mutation below does not copy it
            for k in stride(from: 0, to: pairs.count, by: 2) { dict.set(pairs[k], pairs[k + 1]) }
            arena[i] = .dict(dict)
        case .object: break
        default: throw fail("SETITEM on \(target.describe(in: arena))")
        }
    }

    /// Runs the pickle to STOP and returns the top-level object.
    mutating func load() throws(CheckpointError) -> PickleValue {
        while true {
            let op = try reader.u8()
            switch op {
            case 0x80: // PROTO
                let version = try reader.u8()
                guard version <= 5 else { throw fail("protocol \(version) is newer than 5") }
            case 0x95: try reader.skip(8) // FRAME: a length hint only
            case UInt8(ascii: "."): // STOP
                guard marks.isEmpty, stack.count == 1 else { throw fail("STOP with \(stack.count) items on the stack") }
                return stack[0]
            case UInt8(ascii: "("): marks.append(stack.count) // MARK
            case UInt8(ascii: "0"): _ = try pop() // POP
            case UInt8(ascii: "1"): _ = try popMark() // POP_MARK
            case UInt8(ascii: "2"): stack.append(try top()) // DUP

            // Scalars.
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case UInt8(ascii: "J"): stack.append(.int(Int64(Int32(bitPattern: try reader.u32()))))
            case UInt8(ascii: "K"): stack.append(.int(Int64(try reader.u8())))
            case UInt8(ascii: "M"): stack.append(.int(Int64(try reader.u16())))
            case 0x8A: stack.append(try long(Int(try reader.u8())))
            case 0x8B:
                let n = Int32(bitPattern: try reader.u32())
                guard n >= 0 else { throw fail("negative LONG4 length") }
                stack.append(try long(try count(UInt64(n))))
            case UInt8(ascii: "G"): stack.append(.float(Double(bitPattern: UInt64(bigEndian: try reader.u64().littleEndian))))
            case UInt8(ascii: "I"): // INT (text); "01"/"00" are True/False
                let t = try lineText()
                if t == "01" || t == "00" { stack.append(.bool(t == "01")); break }
                guard let v = Int64(t) else { throw fail("invalid INT '\(t.prefix(30))'") }
                stack.append(.int(v))
            case UInt8(ascii: "L"): // LONG (text), optional trailing L
                var t = try lineText()
                if t.hasSuffix("L") { t.removeLast() }
                stack.append(Int64(t).map(PickleValue.int) ?? add(.bigInt))
            case UInt8(ascii: "F"):
                let t = try lineText()
                guard let v = Double(t) else { throw fail("invalid FLOAT '\(t.prefix(30))'") }
                stack.append(.float(v))

            // Strings and bytes.
            case UInt8(ascii: "X"): stack.append(.string(try text(try count(UInt64(try reader.u32())))))
            case 0x8C: stack.append(.string(try text(Int(try reader.u8()))))
            case 0x8D: stack.append(.string(try text(try count(try reader.u64()))))
            case UInt8(ascii: "V"): stack.append(.string(try PickleText.rawUnicodeEscape(try line())))
            case UInt8(ascii: "B"): stack.append(.bytes(try reader.bytes(try count(UInt64(try reader.u32())))))
            case UInt8(ascii: "C"): stack.append(.bytes(try reader.bytes(Int(try reader.u8()))))
            case 0x8E, 0x96: stack.append(.bytes(try reader.bytes(try count(try reader.u64()))))
            case UInt8(ascii: "T"): // BINSTRING: Python 2 str, bytes taken as latin-1 text
                let n = Int32(bitPattern: try reader.u32())
                guard n >= 0 else { throw fail("negative BINSTRING length") }
                stack.append(.string(PickleText.latin1(try reader.bytes(try count(UInt64(n))))))
            case UInt8(ascii: "U"): stack.append(.string(PickleText.latin1(try reader.bytes(Int(try reader.u8())))))
            case UInt8(ascii: "S"): stack.append(.string(try PickleText.quoted(try line())))

            // Containers.
            case UInt8(ascii: "]"): stack.append(add(.list([])))
            case UInt8(ascii: "l"): stack.append(add(.list(try popMark())))
            case UInt8(ascii: "a"):
                let item = try pop()
                try appendItems([item], to: try top())
            case UInt8(ascii: "e"):
                let items = try popMark()
                try appendItems(items, to: try top())
            case UInt8(ascii: "}"): stack.append(add(.dict(PickleDict())))
            case UInt8(ascii: "d"):
                let pairs = try popMark()
                let dict = add(.dict(PickleDict()))
                try setItems(pairs, in: dict)
                stack.append(dict)
            case UInt8(ascii: "s"):
                let value = try pop(), key = try pop()
                try setItems([key, value], in: try top())
            case UInt8(ascii: "u"):
                let pairs = try popMark()
                try setItems(pairs, in: try top())
            case UInt8(ascii: ")"): stack.append(add(.tuple([])))
            case UInt8(ascii: "t"): stack.append(add(.tuple(try popMark())))
            case 0x85: stack.append(add(.tuple([try pop()])))
            case 0x86:
                let b = try pop(), a = try pop()
                stack.append(add(.tuple([a, b])))
            case 0x87:
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(add(.tuple([a, b, c])))
            case 0x8F: stack.append(add(.set([])))
            case 0x90:
                let items = try popMark()
                try appendItems(items, to: try top())
            case 0x91: stack.append(add(.set(try popMark())))

            // Memo.
            case UInt8(ascii: "p"):
                let t = try lineText()
                guard let i = Int(t), i >= 0 else { throw fail("invalid PUT '\(t.prefix(30))'") }
                try setMemo(i)
            case UInt8(ascii: "q"): try setMemo(Int(try reader.u8()))
            case UInt8(ascii: "r"): try setMemo(Int(try reader.u32()))
            case 0x94: try setMemo(memo.count)
            case UInt8(ascii: "g"):
                let t = try lineText()
                guard let i = Int(t) else { throw fail("invalid GET '\(t.prefix(30))'") }
                try getMemo(i)
            case UInt8(ascii: "h"): try getMemo(Int(try reader.u8()))
            case UInt8(ascii: "j"): try getMemo(Int(try reader.u32()))

            // Objects: recorded, never executed.
            case UInt8(ascii: "c"):
                let module = try lineText(), name = try lineText()
                stack.append(add(.global(module: module, name: name)))
            case 0x93:
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                stack.append(add(.global(module: m, name: n)))
            case UInt8(ascii: "R"):
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args))
            case 0x81: // NEWOBJ
                let args = try pop(), cls = try pop()
                stack.append(try newObject(cls, args))
            case 0x92: // NEWOBJ_EX
                _ = try pop()
                let args = try pop(), cls = try pop()
                stack.append(try newObject(cls, args))
            case UInt8(ascii: "i"): // INST
                let module = try lineText(), name = try lineText()
                _ = try popMark()
                stack.append(add(.object(type: "\(module).\(name)")))
            case UInt8(ascii: "o"): // OBJ
                let items = try popMark()
                guard let cls = items.first else { throw fail("OBJ without a class") }
                stack.append(add(.object(type: typeName(cls))))
            case UInt8(ascii: "b"): // BUILD: state is dropped, the object stays as it is
                _ = try pop()
                _ = try top()
            case UInt8(ascii: "Q"):
                let pid = try pop()
                stack.append(try persistentLoad(pid))
            case UInt8(ascii: "P"):
                throw fail("text persistent id (PERSID) is not used by torch.save")
            case 0x82, 0x83, 0x84:
                throw .unsupported("pickle: the copyreg extension registry (EXT1/2/4) is not supported")
            case 0x97, 0x98:
                throw .unsupported("pickle: out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported")
            default:
                throw fail("unknown opcode 0x" + String(op, radix: 16))
            }
        }
    }
}
