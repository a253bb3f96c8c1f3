import Testing
@testable import Server

/// Every parser of request bodies and headers, fed damaged versions of valid input (seeded, so
/// failures reproduce): each either succeeds or throws a ServiceError that names a client
/// error status; none crashes.
@Suite struct HostileInputTests {
    struct Mutator {
        var state: UInt64

        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(max(bound, 1)))
        }

        /// Truncations, byte flips, inserted and deleted runs.
        mutating func damage(_ bytes: [UInt8]) -> [UInt8] {
            var out = bytes
            switch next(4) {
            case 0: out = Array(out.prefix(next(out.count + 1)))
            case 1: for _ in 0...next(8) where !out.isEmpty { out[next(out.count)] = UInt8(next(256)) }
            case 2: out.insert(contentsOf: (0..<next(16)).map { _ in UInt8(next(256)) }, at: next(out.count + 1))
            default:
                let start = next(out.count + 1)
                out.removeSubrange(start..<min(out.count, start + next(32)))
            }
            return out
        }
    }

    private func survives(_ label: String, _ seed: UInt64, _ valid: [UInt8], rounds: Int = 400,
                          _ parse: ([UInt8]) throws(ServiceError) -> Void) {
        var mutator = Mutator(state: seed)
        for _ in 0..<rounds {
            let input = mutator.damage(valid)
            do { try parse(input) } catch {
                #expect((400..<500).contains(error.status), "\(label): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    let spec = IdsSpec(codebookSize: 1024, maxPositions: 4096, maxGrids: 8)

    @Test func npy() {
        let valid = NPY.encode(shape: [2, 3, 4], dtype: .uint16, values: (0..<24).map(Int32.init))
        survives("npy", 1, valid) { bytes throws(ServiceError) in
            let array = try NPY.decode(bytes)
            _ = try spec.grids(shape: array.shape, values: array.values)
        }
    }

    @Test func idsJSON() {
        let grid = IdGrid(shape: [3, 4], ids: (0..<12).map(Int32.init))
        let valid = IdsJSON.encode(model: "m", codebookSize: 1024, grids: [grid, grid], batched: true)
        survives("json", 2, valid) { bytes throws(ServiceError) in _ = try IdsJSON.decode(bytes, spec: spec) }
    }

    @Test func rawIds() {
        let valid = RawIds.encode([IdGrid(shape: [2, 2], ids: [1, 2, 3, 4])], batched: false, dtype: .uint16).body
        survives("raw", 3, valid) { bytes throws(ServiceError) in
            _ = try RawIds.decode(bytes, shape: "2,2", dtype: "uint16", spec: spec)
        }
    }

    @Test func multipart() {
        let parts = [MultipartPart(headers: ["content-type": "image/png", "content-disposition": "form-data; name=\"a\""],
                                   body: Array(0..<64)),
                     MultipartPart(headers: ["content-type": "image/jpeg"], body: Array(repeating: 0x0D, count: 9))]
        let valid = Multipart.write(parts, boundary: "b0undary")
        survives("multipart", 4, valid) { bytes throws(ServiceError) in
            _ = try Multipart.parse(bytes, boundary: "b0undary", maxParts: 4)
        }
    }

    @Test func headersAndQueries() {
        var mutator = Mutator(state: 5)
        let texts = ["multipart/form-data; boundary=\"x;y\"; q=0.5", "application/json;q=0.9, */*;q=0.1, image/*",
                     "resize=none&quality=%41%42+c", "/v1/models/a%20b/encode"]
        for text in texts {
            for _ in 0..<300 {
                let damaged = String(decoding: mutator.damage(Array(text.utf8)), as: UTF8.self)
                _ = MediaType(parsing: damaged)
                do { _ = try Accept.negotiate(damaged, offers: ["application/json", "image/png"]) } catch {
                    #expect(error.status == 400, "\(damaged): \(error)")
                }
                _ = try? QueryParameters(damaged)
                _ = Route.match(damaged)
            }
        }
        #expect(Route.match("/v1/models/a%20b/encode") == .encode(model: "a b"))
    }
}
