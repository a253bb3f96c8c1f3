import Testing
@testable import Server

@Suite struct ServiceMetricsTests {
    private func scrape(_ metrics: ServiceMetrics) -> PrometheusText {
        PrometheusText(String(decoding: metrics.exposition(), as: UTF8.self))
    }

    @Test func countsRequestsByRouteAndStatus() {
        let metrics = ServiceMetrics()
        let route = "/v1/models/{model}/encode"
        metrics.request(route: route, method: "POST", status: 200, duration: .milliseconds(3))
        metrics.request(route: route, method: "POST", status: 200, duration: .milliseconds(30))
        metrics.request(route: route, method: "POST", status: 415, duration: .milliseconds(1))
        let text = scrape(metrics)
        #expect(text.types["vqtok_requests_total"] == "counter")
        #expect(text.value("vqtok_requests_total", ["route": route, "status": "200"]) == 2)
        #expect(text.value("vqtok_requests_total", ["route": route, "status": "415"]) == 1)
        #expect(text.types["vqtok_request_duration_seconds"] == "histogram")
        #expect(text.value("vqtok_request_duration_seconds_count", ["route": route]) == 3)
        #expect(text.value("vqtok_request_duration_seconds_bucket", ["route": route, "le": "0.005"]) == 2)
    }

    @Test func recordsStagesBatchesAndQueueDepth() {
        let metrics = ServiceMetrics()
        for stage in Stage.allCases { metrics.stage(stage, model: "m", duration: .milliseconds(2)) }
        metrics.batch(model: "m", items: 1)
        metrics.batch(model: "m", items: 6)
        metrics.queueDepth(model: "m", items: 4)
        metrics.dropped(model: "m", reason: "expired", items: 2)
        let text = scrape(metrics)
        for stage in Stage.allCases {
            #expect(text.value("vqtok_stage_duration_seconds_count", ["model": "m", "stage": stage.rawValue]) == 1)
        }
        #expect(text.value("vqtok_batch_size_count", ["model": "m"]) == 2)
        #expect(text.value("vqtok_batch_size_bucket", ["model": "m", "le": "1.0"]) == 1)
        #expect(text.value("vqtok_batch_size_bucket", ["model": "m", "le": "8.0"]) == 2)
        #expect(text.value("vqtok_queue_depth", ["model": "m"]) == 4)
        #expect(text.value("vqtok_dropped_items_total", ["model": "m", "reason": "expired"]) == 2)
    }

    @Test func tracksInFlightAndSyncedTotals() {
        let metrics = ServiceMetrics()
        metrics.requestStarted()
        metrics.requestStarted()
        metrics.requestFinished()
        metrics.syncTotal("vqtok_http_events_total", dimensions: [("event", "stream_reset")], total: 5)
        metrics.syncTotal("vqtok_http_events_total", dimensions: [("event", "stream_reset")], total: 7)
        let text = scrape(metrics)
        #expect(text.value("vqtok_requests_in_flight") == 1)
        #expect(text.value("vqtok_http_events_total", ["event": "stream_reset"]) == 7)
    }

    @Test func publishesCodebookHealth() {
        let metrics = ServiceMetrics()
        let health = CodebookHealth(codebookSize: 4, windowSize: 2)
        health.record([0, 1, 2, 3])
        metrics.publish(health: health, model: "m")
        let text = scrape(metrics)
        #expect(text.value("vqtok_codebook_utilization", ["model": "m", "window": "total"]) == 1)
        #expect(text.value("vqtok_codebook_utilization", ["model": "m", "window": "recent"]) == 0.5)
        #expect(text.value("vqtok_token_perplexity", ["model": "m", "window": "recent"]).map { abs($0 - 2) < 1e-9 } == true)
    }

    @Test func servicesDoNotShareMetrics() {
        let a = ServiceMetrics(), b = ServiceMetrics()
        a.batch(model: "m", items: 3)
        #expect(scrape(b).value("vqtok_batch_size_count", ["model": "m"]) == nil)
    }
}
