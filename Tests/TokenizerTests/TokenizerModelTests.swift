import Checkpoint
import Dispatch
import Foundation
import Tensor
import Testing
@testable import Tokenizer
import TestSupport

@Suite struct TokenizerModelTests {
    static let kinds: [QuantizerConfig.Kind] = [.l2, .projectedL2, .cosine]

    @Test(arguments: kinds)
    func encodeAndDecodeShapes(kind: QuantizerConfig.Kind) throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig(kind: kind))
        #expect(tokenizer.downsampleFactor == 4)
        #expect(tokenizer.codebookSize == 40)
        var values = SeededValues(seed: 2)
        let images = values.tensor([2, 3, 16, 12])
        let latents = tokenizer.encodeLatents(images)
        #expect(latents.shape == [2, 3, 4, 3])
        #expect(latents.storage.allSatisfy { $0.isFinite })
        let grid = tokenizer.encode(images)
        #expect((grid.batch, grid.height, grid.width) == (2, 4, 3))
        #expect(grid.ids.count == 24 && grid.ids.allSatisfy { 0 <= $0 && $0 < 40 })
        let decoded = try tokenizer.decode(grid)
        #expect(decoded.shape == [2, 3, 16, 12])
        #expect(decoded.storage.allSatisfy { $0.isFinite })
    }

    /// encode = the plain nearest-code scan over the (normalized, for cosine) latent vectors.
    @Test(arguments: kinds)
    func encodePicksNearestCodeOfLatents(kind: QuantizerConfig.Kind) throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig(kind: kind), seed: 9)
        var values = SeededValues(seed: 4)
        let images = values.tensor([1, 3, 8, 8])
        let latents = tokenizer.encodeLatents(images)
        var queries = [Float](repeating: 0, count: latents.count)
        for c in 0..<3 { for p in 0..<4 { queries[p * 3 + c] = latents.storage[c * 4 + p] } }
        if kind == .cosine { l2NormalizeRows(&queries, dim: 3) }
        #expect(tokenizer.encode(images).ids == tokenizer.codebook.nearestCodesReference(queries, count: 4))
    }

    @Test func projectedCodebookIsProjectionOfFrozenRows() throws {
        let (tokenizer, weights) = try synthesizedTokenizer(tinyConfig(kind: .projectedL2))
        let e = weights["tok_embeddings.weight"]!.storage        // [40, 6]
        let w = weights["codebook_projection.weight"]!.storage   // [3, 6]
        let b = weights["codebook_projection.bias"]!.storage     // [3]
        var want = [Float](repeating: 0, count: 40 * 3)
        for n in 0..<40 {
            for o in 0..<3 {
                var sum = b[o]
                for f in 0..<6 { sum += e[n * 6 + f] * w[o * 6 + f] }
                want[n * 3 + o] = sum
            }
        }
        assertClose("P = E·Wᵀ + b", tokenizer.codebook.vectors, want, tolerance: 1e-5)
    }

    @Test func cosineCodebookRowsAreUnitVectors() throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig(kind: .cosine))
        assertClose("‖c‖²", tokenizer.codebook.squaredNorms, Array(repeating: 1, count: 40), tolerance: 1e-5)
    }

    /// The same weights under LlamaGen's names (decoder conv_blocks reversed, mid.0/1/2) and
    /// lowest-level attention give the same network as taming's names with attention by resolution.
    @Test func llamaGenNamingMatchesTamingRenamed() throws {
        let (taming, tamingWeights) = try synthesizedTokenizer(tinyConfig())
        var renamed = TensorSet()
        for name in tamingWeights.names { renamed[llamaGenName(taming: name, levels: 3)] = tamingWeights[name] }
        let llamaGen = try VQTokenizer(config: tinyConfig(family: .llamagen, placement: .lowestLevel), weights: renamed)
        var values = SeededValues(seed: 5)
        let images = values.tensor([1, 3, 8, 16])
        #expect(llamaGen.encodeLatents(images) == taming.encodeLatents(images))
        let grid = taming.encode(images)
        #expect(try llamaGen.decode(grid) == taming.decode(grid))
    }

    @Test func concurrentCallsMatchSerialOnes() throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig(kind: .cosine))
        var values = SeededValues(seed: 6)
        let inputs = (0..<4).map { _ in values.tensor([1, 3, 8, 8]) }
        let serial = try inputs.map { image in
            let grid = tokenizer.encode(image)
            return (grid, try tokenizer.decode(grid))
        }
        let results = ResultSlots(count: inputs.count)
        DispatchQueue.concurrentPerform(iterations: inputs.count * 2) { i in
            let grid = tokenizer.encode(inputs[i % inputs.count])
            results.store(i % inputs.count, grid: grid, image: try? tokenizer.decode(grid))
        }
        for i in inputs.indices {
            #expect(results.grid(i) == serial[i].0)
            #expect(results.image(i) == serial[i].1)
        }
    }

    @Test func decodeRejectsBadGrids() throws {
        let (tokenizer, _) = try synthesizedTokenizer(tinyConfig())
        #expect(throws: TokenizerError.idOutOfRange(position: 2, id: 40, codebookSize: 40)) {
            try tokenizer.decode(TokenGrid(batch: 1, height: 2, width: 2, ids: [0, 1, 40, 3]))
        }
        #expect(throws: TokenizerError.idOutOfRange(position: 0, id: -1, codebookSize: 40)) {
            try tokenizer.decode(TokenGrid(batch: 1, height: 1, width: 1, ids: [-1]))
        }
        #expect(throws: TokenizerError.self) {
            try tokenizer.decode(TokenGrid(batch: 1, height: 2, width: 2, ids: [0, 1, 2]))
        }
        #expect(throws: TokenizerError.self) {
            try tokenizer.decode(TokenGrid(batch: 0, height: 2, width: 2, ids: []))
        }
    }
}

/// taming name → LlamaGen name, following the table in tokenizer-architectures.md §3.
func llamaGenName(taming name: String, levels: Int) -> String {
    var parts = name.split(separator: ".").map(String.init)
    if parts.count > 2, parts[1] == "mid" {
        parts[2] = ["block_1": "0", "attn_1": "1", "block_2": "2"][parts[2]]!
    } else if parts.count > 3, parts[1] == "down" || parts[1] == "up" {
        if parts[1] == "up" { parts[2] = String(levels - 1 - Int(parts[2])!) }
        parts[1] = "conv_blocks"
        if parts[3] == "block" { parts[3] = "res" }
    }
    return parts.joined(separator: ".")
}

/// Results written by concurrent workers. @unchecked Sendable: every access holds the lock.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var grids: [TokenGrid?]
    private var images: [Tensor?]

    init(count: Int) {
        grids = Array(repeating: nil, count: count)
        images = Array(repeating: nil, count: count)
    }

    func store(_ i: Int, grid: TokenGrid, image: Tensor?) {
        lock.withLock { grids[i] = grid; images[i] = image }
    }
    func grid(_ i: Int) -> TokenGrid? { lock.withLock { grids[i] } }
    func image(_ i: Int) -> Tensor? { lock.withLock { images[i] } }
}
