import Checkpoint
/// Ids as JSON: `{"model", "shape": [h, w], "codebook_size", "ids": [...]}` for one grid, a list
/// of such objects for a batch. `ids` is flat (row-major) or nested to match `shape`.
enum IdsJSON {
    static let mediaType = "application/json"

    static func encode(model: String, codebookSize: Int, grids: [IdGrid], batched: Bool) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(64 + grids.reduce(0) { $0 + $1.ids.count * 6 })
        if batched { out.append(UInt8(ascii: "[")) }
        let prefix = "{\"model\":\(JSONText.quoted(model)),\"shape\":["
        for (n, grid) in grids.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out += prefix.utf8
            out += grid.shape.map(String.init).joined(separator: ",").utf8
            out += "],\"codebook_size\":\(codebookSize),\"ids\":[".utf8
            for (i, id) in grid.ids.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += String(id).utf8
            }
            out += "]}".utf8
        }
        if batched { out.append(UInt8(ascii: "]")) }
        return out
    }

    /// Reads and checks ids JSON against `spec`.
    static func decode(_ body: [UInt8], spec: IdsSpec) throws(ServiceError) -> (grids: [IdGrid], batched: Bool) {
        let root: JSONValue
        do { root = try JSONParser.parse(body) } catch {
            throw .badRequest("the ids are not valid JSON: \(error.message)")
        }
        switch root {
        case .object:
            return ([try grid(root, label: "", spec: spec)], false)
        case .array(let items):
            try spec.check(gridCount: items.count)
            var grids: [IdGrid] = []
            for (n, item) in items.enumerated() {
                grids.append(try grid(item, label: "item \(n): ", spec: spec))
            }
            return (grids, true)
        default:
            throw .invalidIds("ids JSON must be an object {\"shape\", \"ids\"} or a list of them, not \(root.summary)")
        }
    }

    /// The fields of one grid; `model` is accepted (an encode answer is valid input) and ignored.
    private static let knownFields: Set<String> = ["model", "shape", "codebook_size", "ids"]

    private static func grid(_ value: JSONValue, label: String, spec: IdsSpec) throws(ServiceError) -> IdGrid {
        guard case .object(let members) = value else {
            throw .invalidIds("\(label)expected an object, found \(value.summary)")
        }
        if let unknown = members.first(where: { !knownFields.contains($0.0) }) {
            throw .invalidIds("\(label)unknown field \(JSONText.quoted(unknown.0)) (known: codebook_size, ids, model, shape)")
        }
        if let size = value["codebook_size"], size != .number(String(spec.codebookSize)) {
            throw .invalidIds("\(label)codebook_size is \(size.summary) but this model's codebook has "
                + "\(spec.codebookSize) entries")
        }
        guard let shapeValue = value["shape"] else { throw .invalidIds("\(label)the field \"shape\" is missing") }
        guard case .array(let dims) = shapeValue else { throw .invalidIds("\(label)\"shape\" must be a list of sizes") }
        var shape: [Int] = []
        for d in dims {
            guard case .number(let text) = d, let n = Int(text) else {
                throw .invalidIds("\(label)\"shape\" holds \(d.summary), " + (d.isIntegerLiteral ? "too large a size" : "not a whole number"))
            }
            shape.append(n)
        }
        let count = try spec.check(shape: shape, at: label)
        guard let idsValue = value["ids"] else { throw .invalidIds("\(label)the field \"ids\" is missing") }
        var flat: [JSONValue] = []
        flat.reserveCapacity(count)
        try flatten(idsValue, into: &flat, label: label)
        guard flat.count == count else {
            throw .invalidIds("\(label)shape \(shape) needs \(count) ids, found \(flat.count)")
        }
        var ids = [Int32]()
        ids.reserveCapacity(count)
        for (i, v) in flat.enumerated() {
            guard case .number(let text) = v else {
                throw .invalidIds("\(label)ids[\(i)] is \(v.summary), not an integer")
            }
            guard let n = Int64(text) else {
                guard v.isIntegerLiteral else { throw .invalidIds("\(label)ids[\(i)] is \(v.summary), not an integer") }
                throw .invalidIds("\(label)ids[\(i)] = \(v.summary) is out of range: ids run from 0 to "
                    + "\(spec.codebookSize - 1) (codebook size \(spec.codebookSize))")
            }
            ids.append(try spec.id(n, at: i, label: label))
        }
        return IdGrid(shape: shape, ids: ids)
    }

    private static func flatten(_ value: JSONValue, into flat: inout [JSONValue], label: String) throws(ServiceError) {
        guard case .array(let items) = value else { throw .invalidIds("\(label)\"ids\" must be a list") }
        for item in items {
            if case .array = item { try flatten(item, into: &flat, label: label) } else { flat.append(item) }
        }
    }
}
