import Foundation

/// A model's codebook health, as the VQ papers report it: utilization (distinct ids seen over the
/// codebook size) and token perplexity (exp of the entropy of the id histogram), both over a
/// sliding window of the most recent tokens and since start. Ids from encode answers are recorded.
public final class CodebookHealth: Sendable {
    public struct Figures: Sendable, Equatable {
        /// Distinct ids in the window / codebook size, in [0, 1].
        public var utilization: Double
        /// exp(entropy) of the window's histogram, in [1, codebook size]; 0 when nothing was seen.
        public var perplexity: Double
        /// Tokens the figures are over.
        public var tokens: Int
    }

    private struct Counts {
        var histogram: [Int]
        var distinct = 0
        var total = 0

        init(size: Int) { histogram = Array(repeating: 0, count: size) }

        mutating func add(_ id: Int) {
            if histogram[id] == 0 { distinct += 1 }
            histogram[id] += 1
            total += 1
        }

        mutating func remove(_ id: Int) {
            histogram[id] -= 1
            if histogram[id] == 0 { distinct -= 1 }
            total -= 1
        }

        func figures() -> Figures {
            guard total > 0 else { return Figures(utilization: 0, perplexity: 0, tokens: 0) }
            let n = Double(total)
            var entropy = 0.0
            for c in histogram where c > 0 {
                let p = Double(c) / n
                entropy -= p * Foundation.log(p)
            }
            return Figures(utilization: Double(distinct) / Double(histogram.count), perplexity: exp(entropy),
                           tokens: total)
        }
    }

    private struct State {
        var sinceStart: Counts
        var window: Counts
        /// The window's ids, oldest first from `head`, as a ring.
        var ring: [Int32]
        var head = 0
    }

    public let codebookSize: Int
    public let windowSize: Int
    private let state: Locked<State>

    public init(codebookSize: Int, windowSize: Int = 65_536) {
        precondition(codebookSize > 0 && windowSize > 0, "sizes must be positive")
        self.codebookSize = codebookSize
        self.windowSize = windowSize
        state = Locked(State(sinceStart: Counts(size: codebookSize), window: Counts(size: codebookSize),
                            ring: []))
    }

    /// Records ids produced by the model. Ids outside the codebook are ignored.
    public func record(_ ids: [Int32]) {
        let size = codebookSize
        let window = windowSize
        state.withLock { s in
            for raw in ids {
                let id = Int(raw)
                guard id >= 0, id < size else { continue }
                s.sinceStart.add(id)
                if s.ring.count < window {
                    s.ring.append(raw)
                } else {
                    s.window.remove(Int(s.ring[s.head]))
                    s.ring[s.head] = raw
                    s.head = (s.head + 1) % window
                }
                s.window.add(id)
            }
        }
    }

    /// Figures over the most recent `windowSize` tokens.
    public var recent: Figures { state.withLock { $0.window.figures() } }
    /// Figures over every token since start.
    public var sinceStart: Figures { state.withLock { $0.sinceStart.figures() } }
}
