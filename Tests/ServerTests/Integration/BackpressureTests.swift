import Foundation
import Testing
@testable import Server

extension Integration {
    /// Admission, deadlines and cancellation through the real server, with a model whose worker
    /// is held busy.
    @Suite struct BackpressureTests {
        private func encode(_ live: LiveServer, _ version: Curl.Version = .http2, extra: [String] = []) async throws -> Curl.Answer {
            try await live.curl(version).request("POST", "/v1/models/gated/encode", headers: ["content-type": "image/png"],
                                                 body: try TestImages.png(), extra: extra)
        }

        /// Waits (bounded) until the model's queue holds `depth` items, reading /metrics.
        private func waitForQueueDepth(_ live: LiveServer, _ depth: Double) async throws {
            for _ in 0..<500 {
                if try await live.metrics().value("vqtok_queue_depth", ["model": "gated"]) == depth { return }
                try await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("the queue never held \(depth) items")
        }

        @Test func aFullQueueAnswers503WithRetryAfterAtOnce() async throws {
            let engine = GatedEngine()
            let configuration = ServiceConfiguration(batching: BatchPolicy(maxBatchItems: 1, queueCapacity: 1))
            try await withLiveServer(models: [LoadedModel(name: "gated", engine: engine)], configuration: configuration) { live in
                engine.hold()
                var started = engine.started.makeAsyncIterator()
                async let running = encode(live)
                _ = await started.next()
                async let queued = encode(live)
                try await waitForQueueDepth(live, 1)
                let refused = try await encode(live, .http1)
                #expect(refused.status == 503)
                #expect(refused.headers["retry-after"] == "1")
                #expect((refused.json as? [String: Any])?["type"] as? String == "overloaded")
                engine.release(2)
                #expect(try await running.status == 200)
                #expect(try await queued.status == 200)
                #expect(try await live.metrics().value("vqtok_dropped_items_total", ["model": "gated", "reason": "rejected"]) == 1)
            }
        }

        @Test func queuedWorkPastItsDeadlineGets504() async throws {
            let engine = GatedEngine()
            let configuration = ServiceConfiguration(batching: BatchPolicy(timeout: .milliseconds(300)))
            try await withLiveServer(models: [LoadedModel(name: "gated", engine: engine)], configuration: configuration) { live in
                engine.hold()
                var started = engine.started.makeAsyncIterator()
                async let running = encode(live)
                _ = await started.next()
                let late = try await encode(live)
                #expect(late.status == 504)
                #expect((late.json as? [String: Any])?["type"] as? String == "timeout")
                engine.release()
                #expect(try await running.status == 200)
                #expect(engine.batches == [1, 1], "the warm-up and the first request ran; the expired one never did")
            }
        }

        @Test func aClientThatGoesAwayIsDroppedBeforeItRuns() async throws {
            let engine = GatedEngine()
            try await withLiveServer(models: [LoadedModel(name: "gated", engine: engine)]) { live in
                engine.hold()
                var started = engine.started.makeAsyncIterator()
                async let running = encode(live)
                _ = await started.next()
                // curl gives up after a second and closes its connection: the server cancels the handler.
                await #expect(throws: CurlError.self) { try await encode(live, extra: ["--max-time", "1"]) }
                var dropped = 0.0
                for _ in 0..<500 where dropped == 0 {
                    dropped = try await live.metrics().value("vqtok_dropped_items_total", ["model": "gated", "reason": "cancelled"]) ?? 0
                    if dropped == 0 { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(dropped == 1)
                engine.release()
                let first = try await running
                #expect(first.status == 200, "\(first.status) \(first.errorMessage ?? "")")
                #expect(engine.batches == [1, 1], "the cancelled request never ran")
                let metrics = try await live.metrics()
                #expect((metrics.value("vqtok_http_handlers_cancelled_total") ?? 0) >= 1)
            }
        }

        @Test func aResetStreamIsDroppedBeforeItRunsAndCounted() async throws {
            let engine = GatedEngine()
            try await withLiveServer(models: [LoadedModel(name: "gated", engine: engine)]) { live in
                engine.hold()
                var started = engine.started.makeAsyncIterator()
                async let running = encode(live)
                _ = await started.next()
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-rst-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                try Data(try TestImages.png()).write(to: dir.appendingPathComponent("image.png"))
                // A raw HTTP/2 client (the h2 library httpx uses): it posts an image, and when
                // told to, resets the stream with CANCEL while keeping the connection open.
                let script = """
                import os, socket, time, h2.connection, h2.config, h2.errors
                host, port = os.environ["VQTOK_URL"][len("http://"):].rsplit(":", 1)
                sock = socket.create_connection((host, int(port)))
                conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
                conn.initiate_connection()
                sid = conn.get_next_available_stream_id()
                body = open("image.png", "rb").read()
                conn.send_headers(sid, [(":method", "POST"), (":path", "/v1/models/gated/encode"), (":scheme", "http"),
                                        (":authority", f"{host}:{port}"), ("content-type", "image/png"),
                                        ("content-length", str(len(body)))])
                conn.send_data(sid, body, end_stream=True)
                sock.sendall(conn.data_to_send())
                for _ in range(3000):
                    if os.path.exists("reset"): break
                    time.sleep(0.01)
                conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.CANCEL)
                sock.sendall(conn.data_to_send())
                for _ in range(3000):
                    if os.path.exists("done"): break
                    time.sleep(0.01)
                sock.close()
                """
                let client = Task { try await Python.run(script, baseURL: live.url, directory: dir) }
                try await waitForQueueDepth(live, 1)
                #expect(FileManager.default.createFile(atPath: dir.appendingPathComponent("reset").path, contents: nil))
                try await waitForQueueDepth(live, 0)
                let metrics = try await live.metrics()
                #expect(FileManager.default.createFile(atPath: dir.appendingPathComponent("done").path, contents: nil))
                #expect(metrics.value("vqtok_dropped_items_total", ["model": "gated", "reason": "cancelled"]) == 1)
                #expect((metrics.value("vqtok_http2_resets_total", ["direction": "received"]) ?? 0) >= 1)
                #expect((metrics.value("vqtok_http_handlers_cancelled_total") ?? 0) >= 1)
                let result = try await client.value
                #expect(result.status == 0, "\(result.stderrText)")
                engine.release()
                #expect(try await running.status == 200)
                #expect(engine.batches == [1, 1], "the reset request never ran")
            }
        }
    }
}
