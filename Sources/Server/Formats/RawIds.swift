/// Ids as raw little-endian integers, with the shape and dtype in headers
/// (`x-ids-shape: 2,16,16`, `x-ids-dtype: uint16`).
enum RawIds {
    static let mediaType = "application/octet-stream"
    static let shapeHeader = "x-ids-shape"
    static let dtypeHeader = "x-ids-dtype"

    static func append(_ values: [Int32], as dtype: IdDType, to out: inout [UInt8]) {
        switch dtype {
        case .uint16:
            for v in values {
                let u = UInt16(truncatingIfNeeded: v)
                out.append(UInt8(truncatingIfNeeded: u))
                out.append(UInt8(truncatingIfNeeded: u >> 8))
            }
        case .uint32:
            for v in values {
                let u = UInt32(bitPattern: v)
                out.append(UInt8(truncatingIfNeeded: u))
                out.append(UInt8(truncatingIfNeeded: u >> 8))
                out.append(UInt8(truncatingIfNeeded: u >> 16))
                out.append(UInt8(truncatingIfNeeded: u >> 24))
            }
        }
    }

    /// The body and headers for `grids`; `batched` adds the leading batch axis to the shape.
    static func encode(_ grids: [IdGrid], batched: Bool, dtype: IdDType) -> (body: [UInt8], headers: [String: String]) {
        var body = [UInt8]()
        body.reserveCapacity(grids.reduce(0) { $0 + $1.ids.count } * dtype.byteWidth)
        for grid in grids { append(grid.ids, as: dtype, to: &body) }
        let shape = (batched ? [grids.count] : []) + (grids.first?.shape ?? [])
        return (body, [shapeHeader: shape.map(String.init).joined(separator: ","), dtypeHeader: dtype.rawValue])
    }

    /// Reads a raw body with its shape and dtype headers (dtype defaults to uint32 when absent).
    static func decode(_ body: [UInt8], shape shapeHeader: String?, dtype dtypeHeader: String?,
                       spec: IdsSpec) throws(ServiceError) -> (grids: [IdGrid], batched: Bool) {
        guard let shapeHeader else {
            throw .badRequest("raw ids need their shape in the \(Self.shapeHeader) header (e.g. '16,16')")
        }
        var shape: [Int] = []
        for part in shapeHeader.split(separator: ",", omittingEmptySubsequences: false) {
            guard let d = Int(part.trimmingCharacters(in: " ")), d >= 0 else {
                throw .badRequest("the \(Self.shapeHeader) header '\(shapeHeader)' is not a comma-separated list of sizes")
            }
            shape.append(d)
        }
        let name = dtypeHeader?.lowercased() ?? "uint32"
        let dtypes: [String: NPYDType] = ["uint8": .uint8, "uint16": .uint16, "uint32": .uint32,
                                          "int32": .int32, "int64": .int64]
        guard let dtype = dtypes[name] else {
            throw .invalidIds("the \(Self.dtypeHeader) '\(name)' is not one of uint8, uint16, uint32, int32, int64")
        }
        guard body.count % dtype.width == 0 else {
            throw .badRequest("a raw body of \(body.count) bytes is not a whole number of \(name) values")
        }
        let values = body.withUnsafeBytes { raw in (0..<(body.count / dtype.width)).map { dtype.load(raw, $0) } }
        return try spec.grids(shape: shape, values: values)
    }
}
