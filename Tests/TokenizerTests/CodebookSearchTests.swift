import Testing
@testable import Tokenizer

@Suite struct CodebookSearchTests {
    /// Random floats: the blocked search must pick a code whose exact distance is within
    /// float rounding of the best (where the two disagree, it is a near-tie).
    @Test(arguments: [(5000, 8, 300), (37, 3, 1), (2048 + 17, 16, 129), (4096, 256, 40)])
    func blockedSearchMatchesReference(size: Int, dim: Int, queryCount: Int) {
        var values = SeededValues(seed: UInt64(size * 31 + dim))
        let codebook = Codebook(vectors: values.values(size * dim), dim: dim, normalizesLatents: false)
        let queries = values.values(queryCount * dim)
        let fast = codebook.nearestCodes(queries, count: queryCount)
        let reference = codebook.nearestCodesReference(queries, count: queryCount)
        var nearTies = 0
        for i in 0..<queryCount where fast[i] != reference[i] {
            let distance = { (j: Int32) -> Double in
                (0..<dim).map { c in
                    let d = Double(queries[i * dim + c]) - Double(codebook.vectors[Int(j) * dim + c])
                    return d * d
                }.reduce(0, +)
            }
            let (got, best) = (distance(fast[i]), distance(reference[i]))
            #expect(abs(got - best) <= 1e-5 * max(best, 1e-3), "query \(i): picked \(fast[i]) at \(got), best \(reference[i]) at \(best)")
            nearTies += 1
        }
        #expect(nearTies * 100 <= queryCount, "\(nearTies) of \(queryCount) queries disagree")
    }

    /// Small integers make every distance exact, so duplicated rows tie exactly — across SIMD
    /// lanes, the scalar tail and codebook tiles — and the lowest index must win, as in torch.argmin.
    @Test func exactTiesGoToTheLowestIndex() {
        let dim = 8
        let size = 2 * Codebook.tileRows + 21
        var values = SeededValues(seed: 42)
        var vectors = (0..<(size * dim)).map { _ in (values.next() * 4).rounded() }
        let duplicated = [(5, 2049), (17, 16), (300, size - 1), (2048, 2048 + 16), (3, 4)]
        for (original, copy) in duplicated {
            for c in 0..<dim { vectors[copy * dim + c] = vectors[original * dim + c] }
        }
        let codebook = Codebook(vectors: vectors, dim: dim, normalizesLatents: false)
        // Queries sitting exactly on the duplicated codes (and their copies).
        var queries: [Float] = []
        for (original, _) in duplicated { queries += vectors[(original * dim)..<((original + 1) * dim)] }
        queries += (0..<(64 * dim)).map { _ in (values.next() * 4).rounded() }
        let count = queries.count / dim
        let fast = codebook.nearestCodes(queries, count: count)
        #expect(fast == codebook.nearestCodesReference(queries, count: count))
        #expect(Array(fast.prefix(duplicated.count)) == duplicated.map { Int32(min($0.0, $0.1)) })
    }

    @Test func singleCodeAlwaysWins() {
        let codebook = Codebook(vectors: [1, 2], dim: 2, normalizesLatents: false)
        #expect(codebook.nearestCodes([5, 5, -3, 0], count: 2) == [0, 0])
    }
}
