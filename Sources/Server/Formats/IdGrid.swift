/// One grid of token ids: `shape` is [h, w] (or [h, w, g] for grouped quantizers), `ids` row-major.
public struct IdGrid: Sendable, Equatable {
    public var shape: [Int]
    public var ids: [Int32]

    public init(shape: [Int], ids: [Int32]) {
        self.shape = shape
        self.ids = ids
    }
}

/// The integer type ids travel as in binary answers: uint16 where every id of the codebook
/// fits, else uint32.
public enum IdDType: String, Sendable, CaseIterable {
    case uint16, uint32

    public init(codebookSize: Int) {
        self = codebookSize <= 1 << 16 ? .uint16 : .uint32
    }

    var byteWidth: Int { self == .uint16 ? 2 : 4 }
    var npy: NPYDType { self == .uint16 ? .uint16 : .uint32 }
}

/// What a model accepts as ids to decode; every ids format is checked against it, so that JSON,
/// .npy and raw bodies give the same answers for the same mistakes.
public struct IdsSpec: Sendable, Equatable {
    public var codebookSize: Int
    /// Groups per position for grouped quantizers (the grid is [h, w, g]); nil for [h, w].
    public var groups: Int?
    /// Largest h·w a grid may have (the pixel cap over the downsample factor squared).
    public var maxPositions: Int
    /// Largest number of grids in one request.
    public var maxGrids: Int

    /// `groups`: the model's ids per position (`QuantizerConfig.groups`); nil or 1 gives [h, w] grids.
    public init(codebookSize: Int, groups: Int? = nil, maxPositions: Int, maxGrids: Int) {
        self.codebookSize = codebookSize
        self.groups = groups.flatMap { $0 > 1 ? $0 : nil }
        self.maxPositions = maxPositions
        self.maxGrids = maxGrids
    }

    /// Rank of one grid's shape.
    var gridRank: Int { groups == nil ? 2 : 3 }

    /// Checks one grid's shape; returns its element count.
    func check(shape: [Int], at label: String) throws(ServiceError) -> Int {
        let form = groups == nil ? "[h, w]" : "[h, w, \(groups!)]"
        guard shape.count == gridRank else {
            throw .invalidIds("\(label)shape \(shape) has \(shape.count) dimensions; this model takes \(form)")
        }
        guard shape.allSatisfy({ $0 > 0 }) else {
            throw .invalidIds("\(label)shape \(shape) has a dimension that is not positive")
        }
        if let groups, shape[2] != groups {
            throw .invalidIds("\(label)shape \(shape) has \(shape[2]) groups; this model has \(groups)")
        }
        guard shape[0] <= maxPositions, shape[1] <= maxPositions, shape[0] * shape[1] <= maxPositions else {
            throw .tooLarge("\(label)grid \(shape[0])x\(shape[1]) has more than \(maxPositions) positions "
                + "(the pixel cap)")
        }
        return shape.reduce(1, *)
    }

    func check(gridCount: Int) throws(ServiceError) {
        guard gridCount > 0 else { throw .invalidIds("the request holds no grid of ids") }
        guard gridCount <= maxGrids else {
            throw .tooLarge("the request holds \(gridCount) grids; at most \(maxGrids) are allowed per request")
        }
    }

    /// Checks a value and narrows it to Int32.
    @inline(__always)
    func id(_ value: Int64, at index: Int, label: String) throws(ServiceError) -> Int32 {
        guard value >= 0, value < Int64(codebookSize) else {
            throw .invalidIds("\(label)ids[\(index)] = \(value) is out of range: ids run from 0 to "
                + "\(codebookSize - 1) (codebook size \(codebookSize))")
        }
        return Int32(truncatingIfNeeded: value)
    }

    /// Splits a flat array with a leading batch axis (or none) into grids, checking everything.
    func grids(shape: [Int], values: some Collection<Int64>) throws(ServiceError) -> (grids: [IdGrid], batched: Bool) {
        let batched: Bool
        switch shape.count {
        case gridRank: batched = false
        case gridRank + 1: batched = true
        default:
            let form = groups == nil ? "[h, w] or [batch, h, w]" : "[h, w, g] or [batch, h, w, g]"
            throw .invalidIds("ids of shape \(shape) have \(shape.count) dimensions; this model takes \(form)")
        }
        let count = batched ? shape[0] : 1
        try check(gridCount: count)
        let gridShape = batched ? Array(shape.dropFirst()) : shape
        let per = try check(shape: gridShape, at: "")
        guard values.count == per * count else {
            throw .invalidIds("shape \(shape) needs \(per * count) ids, the body holds \(values.count)")
        }
        var grids: [IdGrid] = []
        grids.reserveCapacity(count)
        var iterator = values.makeIterator()
        for g in 0..<count {
            var ids = [Int32]()
            ids.reserveCapacity(per)
            for i in 0..<per {
                ids.append(try id(iterator.next()!, at: i, label: batched ? "grid \(g): " : ""))
            }
            grids.append(IdGrid(shape: gridShape, ids: ids))
        }
        return (grids, batched)
    }
}
