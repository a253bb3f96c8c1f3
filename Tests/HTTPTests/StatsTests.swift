import Testing
@testable import HTTP

/// `StatsBuffer`: a connection's counters, merged into the server's at each commit.
@Suite struct StatsTests {
    @Test func responsesAreCountedByStatusAcrossRunsAndCommits() {
        let recorder = StatsRecorder()
        let buffer = StatsBuffer(recorder)
        for status in [200, 200, 404, 200, 500, 500] { buffer.request(status: status) }
        #expect(recorder.snapshot().requestsTotal == 0)  // nothing before the commit
        buffer.commit()
        #expect(recorder.snapshot().requestsByStatus == [200: 3, 404: 1, 500: 2])
        for status in [500, 200, 200] { buffer.request(status: status) }
        buffer.commit()
        buffer.commit()  // a commit with nothing new adds nothing
        let stats = recorder.snapshot()
        #expect(stats.requestsTotal == 9)
        #expect(stats.requestsByStatus == [200: 5, 404: 1, 500: 3])
    }

    @Test func countersOtherThanStatusesMergeAsDeltas() {
        let recorder = StatsRecorder()
        let buffer = StatsBuffer(recorder)
        buffer.update { $0.streamsOpen += 2; $0.bytesIn += 100 }
        buffer.closed(reason: "idle_timeout")
        buffer.commit()
        buffer.update { $0.streamsOpen -= 1 }
        buffer.commit()
        let stats = recorder.snapshot()
        #expect(stats.streamsOpen == 1 && stats.bytesIn == 100)
        #expect(stats.connectionsClosedByReason == ["idle_timeout": 1])
    }
}
