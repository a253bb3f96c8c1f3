import Testing
@testable import Server

@Suite struct IdsFormatTests {
    let spec = IdsSpec(codebookSize: 1024, maxPositions: 64 * 64, maxGrids: 8)

    private func json(_ text: String) throws(ServiceError) -> (grids: [IdGrid], batched: Bool) {
        try IdsJSON.decode(Array(text.utf8), spec: spec)
    }

    private func rejection(_ text: String) -> ServiceError? {
        #expect(throws: ServiceError.self) { try json(text) }
    }

    @Test func jsonRoundTripsOneGridAndABatch() throws {
        let grid = IdGrid(shape: [2, 2], ids: [0, 1, 1022, 1023])
        let one = IdsJSON.encode(model: "m\"x", codebookSize: 1024, grids: [grid], batched: false)
        #expect(String(decoding: one, as: UTF8.self)
            == #"{"model":"m\"x","shape":[2,2],"codebook_size":1024,"ids":[0,1,1022,1023]}"#)
        #expect(try IdsJSON.decode(one, spec: spec).grids == [grid])
        #expect(try IdsJSON.decode(one, spec: spec).batched == false)
        let two = IdsJSON.encode(model: "m", codebookSize: 1024, grids: [grid, grid], batched: true)
        let back = try IdsJSON.decode(two, spec: spec)
        #expect(back.grids == [grid, grid] && back.batched)
    }

    @Test func jsonAcceptsNestedIdsAndNoOptionalFields() throws {
        let back = try json(#"{"shape": [2, 3], "ids": [[1, 2, 3], [4, 5, 6]]}"#)
        #expect(back.grids == [IdGrid(shape: [2, 3], ids: [1, 2, 3, 4, 5, 6])])
    }

    @Test func jsonNamesEachProblemWith422() {
        let cases: [(String, String)] = [
            (#"{"shape": [2, 2], "ids": [1, 2, 3.5, 4]}"#, "ids[2] is 3.5, not an integer"),
            (#"{"shape": [2, 2], "ids": [1, 2, 3.0, 4]}"#, "ids[2] is 3.0, not an integer"),
            (#"{"shape": [2, 2], "ids": [1, "2", 3, 4]}"#, "ids[1] is \"2\", not an integer"),
            (#"{"shape": [2, 2], "ids": [1, 2, 3, null]}"#, "ids[3] is null"),
            (#"{"shape": [2, 2], "ids": [1, 2, 3, 1024]}"#, "ids[3] = 1024 is out of range"),
            (#"{"shape": [2, 2], "ids": [-1, 2, 3, 4]}"#, "ids[0] = -1 is out of range"),
            (#"{"shape": [2, 2], "ids": [1, 2, 3, 99999999999999999999999]}"#, "out of range"),
            (#"{"shape": [2, 2], "ids": [1, 2, 3]}"#, "needs 4 ids, found 3"),
            (#"{"shape": [2, 2, 2], "ids": [1]}"#, "has 3 dimensions"),
            (#"{"shape": [99999999999999999999, 1], "ids": [1]}"#, "holds 99999999999999999999, too large a size"),
            (#"{"shape": [2.5, 1], "ids": [1]}"#, "holds 2.5, not a whole number"),
            (#"{"shape": [1, 1], "ids": [1e400]}"#, "ids[0] is 1e400, not an integer"),
            ("{\"shape\": [1, 1], \"ids\": [1\(String(repeating: "0", count: 5000))]}", "ids[0] = 100000000000000000000000... is out of range"),
            (#"{"shape": [0, 2], "ids": []}"#, "not positive"),
            (#"{"ids": [1]}"#, "\"shape\" is missing"),
            (#"{"shape": [1, 1]}"#, "\"ids\" is missing"),
            (#"{"shape": [1, 1], "ids": [1], "codebook_size": 16384}"#, "codebook has 1024"),
            (#"[{"shape": [1, 1], "ids": [1]}, {"shape": [1, 1], "ids": [2000]}]"#, "item 1: ids[0] = 2000"),
            (#"{"shape": [1, 1], "ids": [1], "codebook": 1024}"#, "unknown field \"codebook\""),
            (#"[{"shape": [1, 1], "ids": [1]}, {"shape": [1, 1], "id": [1]}]"#, "item 1: unknown field \"id\""),
            ("[]", "holds no grid"),
            ("42", "must be an object"),
        ]
        for (body, fragment) in cases {
            let error = rejection(body)
            #expect(error?.status == 422, "\(body)")
            #expect(error?.type == "invalid_ids")
            #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "no error") for \(body)")
        }
    }

    @Test func jsonSyntaxErrorsAre400AndLimitsAre413() {
        #expect(rejection(#"{"shape": [1, 1], "ids": [1"#)?.status == 400)
        #expect(rejection("")?.status == 400)
        let twice = rejection(#"{"shape": [1, 1], "ids": [1], "shape": [1, 2]}"#)
        #expect(twice?.status == 400)
        #expect(twice?.message.contains(#"the key "shape" appears twice"#) == true, "\(twice?.message ?? "no error")")
        let many = "[" + Array(repeating: #"{"shape":[1,1],"ids":[1]}"#, count: 9).joined(separator: ",") + "]"
        #expect(rejection(many)?.status == 413)
        #expect(rejection(#"{"shape": [65, 65], "ids": []}"#)?.status == 413)
    }

    @Test func rawIdsCarryShapeAndDtypeInHeaders() throws {
        let grids = [IdGrid(shape: [1, 2], ids: [1, 70_000]), IdGrid(shape: [1, 2], ids: [3, 4])]
        let (body, headers) = RawIds.encode(grids, batched: true, dtype: .uint32)
        #expect(headers["x-ids-shape"] == "2,1,2" && headers["x-ids-dtype"] == "uint32")
        #expect(body == [1, 0, 0, 0, 0x70, 0x11, 1, 0, 3, 0, 0, 0, 4, 0, 0, 0])
        let wide = IdsSpec(codebookSize: 100_000, maxPositions: 64, maxGrids: 4)
        let back = try RawIds.decode(body, shape: "2,1,2", dtype: "uint32", spec: wide)
        #expect(back.grids == grids && back.batched)
        let small = RawIds.encode([IdGrid(shape: [1, 2], ids: [1, 513])], batched: false, dtype: .uint16)
        #expect(small.body == [1, 0, 1, 2] && small.headers["x-ids-shape"] == "1,2")
    }

    @Test func rawIdsRejectMissingShapeAndBadDtype() {
        let missing = #expect(throws: ServiceError.self) { try RawIds.decode([0, 0], shape: nil, dtype: nil, spec: spec) }
        #expect(missing?.status == 400)
        let dtype = #expect(throws: ServiceError.self) {
            try RawIds.decode([0, 0], shape: "1,1", dtype: "float32", spec: spec)
        }
        #expect(dtype?.status == 422)
        let count = #expect(throws: ServiceError.self) {
            try RawIds.decode([0, 0, 0, 0], shape: "1,1", dtype: "uint16", spec: spec)
        }
        #expect(count?.message.contains("needs 1 ids") == true)
    }

    @Test func npyIdsFollowTheRankRule() throws {
        let single = try spec.grids(shape: [2, 2], values: [1, 2, 3, 4])
        #expect(!single.batched && single.grids.count == 1)
        let batch = try spec.grids(shape: [2, 1, 2], values: [1, 2, 3, 4])
        #expect(batch.batched && batch.grids.count == 2 && batch.grids[1].ids == [3, 4])
        let grouped = IdsSpec(codebookSize: 16, groups: 2, maxPositions: 64, maxGrids: 4)
        #expect(try grouped.grids(shape: [1, 2, 2], values: [1, 2, 3, 4]).batched == false)
        let wrongGroups = #expect(throws: ServiceError.self) { try grouped.grids(shape: [1, 1, 4], values: [1, 2, 3, 4]) }
        #expect(wrongGroups?.message.contains("4 groups") == true)
    }

    @Test func dtypeFollowsTheCodebookSize() {
        #expect(IdDType(codebookSize: 65_536) == .uint16)
        #expect(IdDType(codebookSize: 65_537) == .uint32)
        #expect(IdDType(codebookSize: 100_000) == .uint32)
    }

    @Test func errorBodyIsJSON() throws {
        let body = ServiceError.invalidIds("ids[0] is \"x\"").body
        let parsed = try JSONParser.parse(body)
        #expect(parsed["error"] == .string("ids[0] is \"x\""))
        #expect(parsed["type"] == .string("invalid_ids"))
    }
}
