import Foundation
import Testing
@testable import Server

@Suite struct CodebookHealthTests {
    @Test func reportsNothingBeforeAnyToken() {
        let health = CodebookHealth(codebookSize: 8)
        #expect(health.recent == .init(utilization: 0, perplexity: 0, tokens: 0))
    }

    @Test func uniformUseHasFullPerplexity() {
        let health = CodebookHealth(codebookSize: 4)
        health.record([0, 1, 2, 3, 0, 1, 2, 3])
        #expect(health.sinceStart.utilization == 1)
        #expect(abs(health.sinceStart.perplexity - 4) < 1e-12)
    }

    @Test func singleIdHasPerplexityOne() {
        let health = CodebookHealth(codebookSize: 16)
        health.record(Array(repeating: 5, count: 100))
        #expect(health.sinceStart.utilization == 1.0 / 16)
        #expect(abs(health.sinceStart.perplexity - 1) < 1e-12)
    }

    @Test func perplexityIsExpOfEntropy() {
        let health = CodebookHealth(codebookSize: 10)
        health.record([0, 0, 0, 1])  // p = 3/4, 1/4
        let entropy = -(0.75 * log(0.75) + 0.25 * log(0.25))
        #expect(abs(health.sinceStart.perplexity - exp(entropy)) < 1e-12)
    }

    @Test func windowForgetsOldTokensButSinceStartDoesNot() {
        let health = CodebookHealth(codebookSize: 8, windowSize: 4)
        health.record([0, 1, 2, 3])
        health.record([7, 7, 7, 7, 7])
        #expect(health.recent.utilization == 1.0 / 8)
        #expect(health.recent.tokens == 4)
        #expect(abs(health.recent.perplexity - 1) < 1e-12)
        #expect(health.sinceStart.utilization == 5.0 / 8)
        #expect(health.sinceStart.tokens == 9)
    }

    @Test func ignoresIdsOutsideTheCodebook() {
        let health = CodebookHealth(codebookSize: 4)
        health.record([-1, 4, 2])
        #expect(health.sinceStart.tokens == 1)
    }
}
