import Testing
@testable import Tokenizer
import TestSupport

@Suite struct CodebookSearchTests {
    /// Random codebooks, through the tree (d ≤ 16, more codes than a leaf) or the full scan,
    /// queries inside the codebook's range and a tenth far outside it: every id is the Double
    /// scan's, or a near-tie within the Float rounding of ‖c‖² − 2z·c (which BLAS kernels
    /// round differently from one tile position to another, so no Float scan is the truth).
    /// On each search path the CPU runs (`SearchPath`).
    @Test(arguments: [(5000, 8, 300), (37, 3, 1), (100, 8, 50), (2048 + 17, 16, 129), (20000, 8, 1000),
                      (3000, 5, 257), (1500, 12, 64), (900, 3, 7), (2100, 24, 33), (4096, 256, 40)],
          SearchPath.available)
    func searchMatchesReference(shape: (size: Int, dim: Int, queryCount: Int), path: SearchPath) {
        let (size, dim, queryCount) = shape
        var values = SeededValues(seed: UInt64(size * 31 + dim))
        let codebook = Codebook(vectors: values.values(size * dim), dim: dim, normalizesLatents: false)
        var queries = values.values(queryCount * dim)
        for i in stride(from: 0, to: queryCount, by: 10) {
            for c in 0..<dim { queries[i * dim + c] *= 100 }
        }
        let ids = codebook.nearestCodes(queries, count: queryCount, path: path)
        let reference = codebook.nearestCodesReference(queries, count: queryCount)
        let codeRadius = Double(codebook.squaredNorms.max()!).squareRoot()
        var nearTies = 0
        for i in 0..<queryCount where ids[i] != reference[i] {
            let (got, best) = (squaredDistance(codebook, queries, i, ids[i]), squaredDistance(codebook, queries, i, reference[i]))
            let radius = squaredDistance(codebook, queries, i, nil).squareRoot() + codeRadius
            let rounding = Double(8 * dim + 16) * 0x1p-24 * radius * radius
            #expect(abs(got - best) <= rounding, "query \(i): picked \(ids[i]) at \(got), best \(reference[i]) at \(best)")
            nearTies += 1
        }
        #expect(nearTies * 100 <= queryCount, "\(nearTies) of \(queryCount) queries disagree")
    }

    /// Small integers make every distance exact in Float, so duplicated codes tie exactly —
    /// within a leaf, across leaves and across the scan's tiles — and the lowest index must
    /// win, as in torch.argmin; the ids then equal the Double scan's exactly. Queries sit on
    /// codes, between them and far outside the codebook. On each search path the CPU runs (`SearchPath`).
    @Test(arguments: [(2 * 2048 + 21, 8), (3000, 5), (600, 3), (100, 8), (1000, 20)], SearchPath.available)
    func exactTiesGoToTheLowestIndex(shape: (size: Int, dim: Int), path: SearchPath) {
        let (size, dim) = shape
        var values = SeededValues(seed: UInt64(42 + size))
        var vectors = (0..<(size * dim)).map { _ in (values.next() * 4).rounded() }
        let duplicated = [(5, size - 1), (17, 16), (3, 4), (size / 2, size / 3), (0, size / 2 + 1)]
        for (original, copy) in duplicated {
            for c in 0..<dim { vectors[copy * dim + c] = vectors[original * dim + c] }
        }
        let codebook = Codebook(vectors: vectors, dim: dim, normalizesLatents: false)
        var queries: [Float] = []
        for (original, _) in duplicated { queries += vectors[(original * dim)..<((original + 1) * dim)] }
        queries += (0..<(300 * dim)).map { _ in (values.next() * 5).rounded() }
        queries += (0..<(40 * dim)).map { _ in (values.next() * 1000).rounded() }
        let count = queries.count / dim
        let ids = codebook.nearestCodes(queries, count: count, path: path)
        #expect(ids == codebook.nearestCodesReference(queries, count: count))
        #expect(Array(ids.prefix(duplicated.count)) == duplicated.map { Int32(min($0.0, $0.1)) })
    }

    /// Every code the same point (integers: exact arithmetic): every query ties with all of
    /// them and gets 0, also with few queries, whose first pass scores a home of several
    /// leaves (ids ascending within each leaf only).
    @Test(arguments: [1, 3, 20, 200], SearchPath.available)
    func identicalCodesGiveTheFirst(queryCount: Int, path: SearchPath) {
        let code: [Float] = [1, -2, 3, 0, 2, -1, 1, 4]
        let codebook = Codebook(vectors: Array((0..<1000).map { _ in code }.joined()), dim: 8, normalizesLatents: false)
        var values = SeededValues(seed: 8)
        let queries = (0..<(queryCount * 8)).map { _ in (values.next() * 20).rounded() }
        #expect(codebook.nearestCodes(queries, count: queryCount, path: path) == [Int32](repeating: 0, count: queryCount))
    }

    /// A query with a NaN coordinate has no nearest code (every distance NaN, and NaN never
    /// wins) and gets 0, as from torch.argmin's scan; the queries around it are unaffected.
    /// Leaves of 112–113 codes (not whole blocks of 8 or 16) and a dimension other than 8.
    @Test(arguments: [8, 5], SearchPath.available)
    func nanQueriesGetTheFirstCode(dim: Int, path: SearchPath) {
        var values = SeededValues(seed: 77)
        let codebook = Codebook(vectors: (0..<(900 * dim)).map { _ in (values.next() * 6).rounded() }, dim: dim,
                                normalizesLatents: false)
        let index = codebook.index
        #expect(index.depth > 0 && (index.firstLeaf..<index.nodeCount).contains { (index.end[$0] - index.start[$0]) % 8 != 0 })
        var queries = (0..<(40 * dim)).map { _ in (values.next() * 9).rounded() }
        for row in [0, 7, 21, 39] { queries[row * dim + row % dim] = .nan }
        let ids = codebook.nearestCodes(queries, count: 40, path: path)
        var expected = codebook.nearestCodesReference(queries, count: 40)
        for row in [0, 7, 21, 39] { expected[row] = 0 }
        #expect(ids == expected)
    }

    @Test func singleCodeAlwaysWins() {
        let codebook = Codebook(vectors: [1, 2], dim: 2, normalizesLatents: false)
        #expect(codebook.nearestCodes([5, 5, -3, 0], count: 2) == [0, 0])
        #expect(codebook.nearestCodes([], count: 0) == [])
    }

    /// Past `maximumLeafCount` leaves the tree stops growing and its leaves grow instead (halves
    /// of halves: sizes within one of each other), and the search through them is still the
    /// Double scan's, query counts off multiples of 8 included. Small integers: distances are
    /// exact in Float and tie often, so the lowest index must win across leaves.
    @Test(arguments: [1, 13, 64, 203], SearchPath.available)
    func cappedLeafCountKeepsTheSearchExact(queryCount: Int, path: SearchPath) {
        var values = SeededValues(seed: 5)
        let (size, dim) = (1000, 4)
        let codebook = Codebook(vectors: (0..<(size * dim)).map { _ in (values.next() * 8).rounded() }, dim: dim,
                                normalizesLatents: false)
        let index = CodebookIndex(vectors: codebook.vectors, squaredNorms: codebook.squaredNorms, dim: dim,
                                  leafSize: 4, maximumLeafCount: 16)
        #expect(index.leafCount == 16)
        for leaf in index.firstLeaf..<index.nodeCount {
            #expect([size / 16, size / 16 + 1].contains(index.end[leaf] - index.start[leaf]))
        }
        let queries = (0..<(queryCount * dim)).map { _ in (values.next() * 12).rounded() }
        #expect(index.nearestPruned(queries, count: queryCount, path: path)
                == codebook.nearestCodesReference(queries, count: queryCount))
    }

    /// The workers split homes, query blocks and leaves into chunks whose count follows theirs;
    /// the ids must not: any worker count, more than the machine's cores included, gives the
    /// 1-worker ids, which are the Double scan's (small integers: exact distances, many ties).
    @Test(arguments: [2, 3, 7, 16, 64], SearchPath.available)
    func prunedSearchIsTheSameOnAnyWorkers(workers: Int, path: SearchPath) {
        var values = SeededValues(seed: 23)
        let (size, dim, count) = (20000, 8, 1500)
        let codebook = Codebook(vectors: (0..<(size * dim)).map { _ in (values.next() * 6).rounded() }, dim: dim,
                                normalizesLatents: false)
        let queries = (0..<(count * dim)).map { _ in (values.next() * 9).rounded() }
        let single = codebook.index.nearestPruned(queries, count: count, workers: 1, path: path)
        #expect(single == codebook.nearestCodesReference(queries, count: count))
        #expect(codebook.index.nearestPruned(queries, count: count, workers: workers, path: path) == single)
    }

    /// The tree holds every code once, in leaves no larger than `leafSize`, each inside its box.
    @Test func indexCoversEveryCodeInsideItsBox() {
        var values = SeededValues(seed: 11)
        let (size, dim) = (3001, 8)
        let codebook = Codebook(vectors: values.values(size * dim), dim: dim, normalizesLatents: false)
        let index = codebook.index
        #expect(index.depth > 0)
        #expect(index.original.sorted() == (0..<size).map { Int32($0) })
        for leaf in index.firstLeaf..<index.nodeCount {
            #expect(index.end[leaf] - index.start[leaf] <= CodebookIndex.leafSize)
            #expect(index.end[leaf] > index.start[leaf])
            for s in index.start[leaf]..<index.end[leaf] {
                let j = Int(index.original[s])
                for c in 0..<dim {
                    let v = codebook.vectors[j * dim + c]
                    #expect(index.columns[c * size + s] == v)
                    #expect(index.lower[leaf * index.boxStride + c] <= v && v <= index.upper[leaf * index.boxStride + c])
                }
                #expect(index.columns[dim * size + s] == codebook.squaredNorms[j])
            }
        }
    }
}

/// ‖z_i − c_j‖² in Double (‖z_i‖² when `j` is nil).
private func squaredDistance(_ codebook: Codebook, _ queries: [Float], _ i: Int, _ j: Int32?) -> Double {
    let dim = codebook.dim
    return (0..<dim).map { c in
        let d = Double(queries[i * dim + c]) - (j.map { Double(codebook.vectors[Int($0) * dim + c]) } ?? 0)
        return d * d
    }.reduce(0, +)
}
