import Testing
@testable import Server

/// Models, health, readiness and metrics routes, in process.
@Suite struct InfoServiceTests {
    @Test func readinessFollowsWarmUpAndDraining() async throws {
        let h = try await ServiceHarness(warm: false)
        defer { h.shutdown() }
        #expect(await h.send("GET", "/healthz").status == 200)
        h.expectError(await h.send("GET", "/readyz"), 503, "loading")
        h.expectError(await h.send("POST", "/v1/models/tiny/encode", headers: ["content-type": "image/png"],
                                   body: try TestImages.png()), 503, "loading")
        #expect(try h.json(await h.send("GET", "/v1/models/tiny"))["status"] == .string("loading"))
        try await h.service.warmUp()
        #expect(await h.send("GET", "/readyz").status == 200)
        #expect(try h.json(await h.send("GET", "/v1/models/tiny"))["status"] == .string("ready"))
        h.service.readiness = .draining
        h.expectError(await h.send("GET", "/readyz"), 503, "draining")
        #expect(await h.send("GET", "/healthz").status == 200)
    }

    @Test func describesTheModels() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let one = try h.json(await h.send("GET", "/v1/models/tiny"))
        #expect(one["name"] == .string("tiny"))
        #expect(one["family"] == .string("taming"))
        #expect(one["grid"] == .array([.number("4"), .number("4")]))
        #expect(one["codebook_size"] == .number("40") && one["codebook_dim"] == .number("3"))
        #expect(one["quantizer"]?["kind"] == .string("l2"))
        #expect(one["preprocessing"]?["resolution"] == .number("16"))
        #expect(one["id_dtype"] == .string("uint16"))
        let list = try h.json(await h.send("GET", "/v1/models/"))
        #expect(list["models"] == .array([one]))
        h.expectError(await h.send("GET", "/v1/models/other"), 404, "no model named 'other'")
        h.expectError(await h.send("GET", "/v2/things"), 404, "no route")
        h.expectError(await h.send("DELETE", "/v1/models"), 405, "DELETE")
    }

    @Test func headAnswersLikeGetWithoutABody() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let r = await h.send("HEAD", "/healthz")
        #expect(r.status == 200 && r.body.isEmpty)
    }

    @Test func metricsCountRoutesByTemplateAndStatus() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        _ = await h.send("POST", "/v1/models/tiny/encode", headers: ["content-type": "image/png"], body: try TestImages.png())
        _ = await h.send("POST", "/v1/models/tiny/encode", headers: ["content-type": "text/plain"], body: [1])
        _ = await h.send("GET", "/nothing/here")
        _ = await h.send("BREW", "/healthz")
        _ = await h.send("POST", "/v1/models/tiny/decode", headers: ["content-type": "application/json"],
                         body: Array(#"{"shape":[1,1],"ids":[5]}"#.utf8))
        let r = await h.send("GET", "/metrics")
        #expect(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        let text = PrometheusText(String(decoding: r.body, as: UTF8.self))
        let route = "/v1/models/{model}/encode"
        #expect(text.value("vqtok_requests_total", ["route": route, "status": "200"]) == 1)
        #expect(text.value("vqtok_requests_total", ["route": route, "status": "415"]) == 1)
        #expect(text.value("vqtok_requests_total", ["route": "unmatched", "status": "404"]) == 1)
        #expect(text.value("vqtok_requests_total", ["route": "/healthz", "method": "other", "status": "405"]) == 1,
                "unknown methods share one label value")
        for stage in ["queue", "image_decode", "preprocess", "encoder", "quantize", "decoder", "image_encode"] {
            #expect((text.value("vqtok_stage_duration_seconds_count", ["model": "tiny", "stage": stage]) ?? 0) >= 1,
                    "stage \(stage)")
        }
        #expect((text.value("vqtok_batch_size_count", ["model": "tiny"]) ?? 0) >= 3, "warm-up and one encode")
        #expect(text.value("vqtok_requests_in_flight") == 1, "the scrape itself is in flight")
    }

    @Test func transportCountersAppearAtScrape() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let resets = Locked<Int64>(3)
        h.service.attachTransport {
            TransportSnapshot(counters: [(label: "vqtok_http2_resets_received_total", dimensions: [], total: resets.withLock { $0 })],
                              gauges: [(label: "vqtok_http_connections_open", dimensions: [], value: 2)])
        }
        _ = await h.send("GET", "/metrics")
        resets.withLock { $0 = 5 }
        let text = PrometheusText(String(decoding: (await h.send("GET", "/metrics")).body, as: UTF8.self))
        #expect(text.value("vqtok_http2_resets_received_total") == 5)
        #expect(text.value("vqtok_http_connections_open") == 2)
    }

    @Test func infoRoutesAnswerAtOnceAsTheGeneralPathDoes() async throws {
        let h = try await ServiceHarness()
        defer { h.shutdown() }
        let atOnce: [(String, String)] = [("GET", "/healthz"), ("HEAD", "/healthz"), ("GET", "/readyz"),
                                          ("GET", "/v1/models"), ("GET", "/v1/models/tiny"),
                                          ("GET", "/v1/models/other"), ("POST", "/healthz")]
        for (method, path) in atOnce {
            let request = ServiceRequest(method: method, path: path)
            let inline = try #require(h.service.respondAtOnce(to: request), "\(method) \(path)")
            let general = await h.service.respond(to: request)
            #expect(inline.status == general.status && inline.body == general.body, "\(method) \(path)")
            #expect(inline.header("x-total-time") != nil)
        }
        let scrape = try #require(h.service.respondAtOnce(to: ServiceRequest(method: "GET", path: "/metrics")))
        #expect(scrape.status == 200 && !scrape.body.isEmpty)
        for path in ["/v1/models/tiny/encode", "/v1/models/tiny/decode", "/nothing"] {
            #expect(h.service.respondAtOnce(to: ServiceRequest(method: "POST", path: path)) == nil, "\(path) takes the general path")
        }
        let text = PrometheusText(String(decoding: (await h.send("GET", "/metrics")).body, as: UTF8.self))
        #expect(text.value("vqtok_requests_total", ["route": "/healthz", "method": "GET", "status": "200"]) == 2,
                "answers at once are counted like the others")
    }
}
