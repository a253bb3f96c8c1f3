import Foundation
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// Real clients against a live server: curl (HTTP/2 prior knowledge and HTTP/1.1), nghttp,
    /// h2load and Python httpx.
    @Suite struct ClientTests {
        @Test func curlHTTP2AndHTTP1OnOnePort() async throws {
            let s = try TestServer()
            let h2 = try await run("curl", ["-sS", "--http2-prior-knowledge", "-w", "|%{http_code}|%{http_version}",
                                            "\(s.base)/hello"])
            #expect(h2.stdoutText == "hello|200|2", "\(h2.stderr)")
            let h1 = try await run("curl", ["-sS", "-w", "|%{http_code}|%{http_version}", "\(s.base)/hello"])
            #expect(h1.stdoutText == "hello|200|1.1", "\(h1.stderr)")
            let stats = s.server.stats()
            #expect(stats.http2Connections == 1 && stats.http1Connections == 1)
            await s.stop()
        }

        @Test func http1KeepAliveReusesTheConnection() async throws {
            let s = try TestServer()
            let r = try await run("curl", ["-sS", "\(s.base)/hello", "\(s.base)/hello", "\(s.base)/bytes?n=10"])
            #expect(r.stdout.count == 20, "\(r.stderr)")
            let stats = s.server.stats()
            #expect(stats.connectionsTotal == 1)
            #expect(stats.requestsTotal == 3)
            await s.stop()
        }

        @Test func http1ChunkedRequestBody() async throws {
            let s = try TestServer()
            let body = TestHandler.pattern(300_000)
            let file = try TestPaths.tempFile("chunked.bin", body)
            let r = try await run("curl", ["-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(file.path)",
                                           "\(s.base)/echo"])
            #expect(Array(r.stdout) == body, "\(r.stderr)")
            await s.stop()
        }

        @Test(arguments: ["--http2-prior-knowledge", "--http1.1"])
        func largeBodiesBothWays(flag: String) async throws {
            let s = try TestServer()
            let body = TestHandler.pattern(24 << 20)
            let file = try TestPaths.tempFile("big\(flag).bin", body)
            let out = file.deletingLastPathComponent().appendingPathComponent("big-out\(flag).bin")
            let r = try await run("curl", ["-sS", flag, "--data-binary", "@\(file.path)", "-o", out.path,
                                           "-w", "%{http_code}", "\(s.base)/echo"], timeout: .seconds(30))
            #expect(r.stdoutText == "200", "\(r.stderr)")
            let got = try Data(contentsOf: out)
            #expect(got.count == body.count)
            #expect(got == Data(body))
            await s.stop()
        }

        @Test func nghttpHundredConcurrentStreamsOnOneConnection() async throws {
            let s = try TestServer { $0.maxRunningHandlersPerConnection = 100 }
            // -m 100: the same URI 100 times, all on one connection; each handler sleeps 300 ms.
            let r = try await run("nghttp", ["-n", "-s", "-m", "100", "\(s.base)/slow?ms=300"])
            #expect(r.status == 0, "\(r.stderr)")
            let stats = s.server.stats()
            #expect(stats.requestsByStatus[200] == 100)
            #expect(stats.connectionsTotal == 1)
            #expect(s.probe.maxRunning >= 90, "handlers ran concurrently: max \(s.probe.maxRunning)")
            await s.stop()
        }

        @Test func nghttpUploadAndDownload() async throws {
            let s = try TestServer()
            let body = TestHandler.pattern(1 << 20)
            let file = try TestPaths.tempFile("nghttp-up.bin", body)
            let r = try await run("nghttp", ["-d", file.path, "\(s.base)/echo"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(Array(r.stdout) == body)
            await s.stop()
        }

        @Test(arguments: [false, true])
        func h2loadAllSucceed(http1: Bool) async throws {
            let s = try TestServer()
            let r = try await run("h2load", (http1 ? ["--h1"] : []) + ["-n", "2000", "-c", "4", "-m", "10", "\(s.base)/hello"])
            #expect(r.stdoutText.contains("2000 succeeded, 0 failed"), "\(r.stdoutText)\(r.stderr)")
            await s.stop()
        }

        @Test func pythonHttpxOverHTTP2() async throws {
            let s = try TestServer()
            let script = """
            import sys
            try:
                import httpx
            except ImportError as e:
                sys.exit("httpx (with h2) is required for the HTTP tests: set VQTOK_PYTHON or create .venv: %s" % e)
            base = sys.argv[1]
            with httpx.Client(http1=False, http2=True, timeout=30) as c:
                r = c.get(base + "/hello")
                assert r.status_code == 200 and r.http_version == "HTTP/2" and r.text == "hello", (r, r.http_version)
                body = (bytes(range(251)) * ((21 << 20) // 251 + 1))[: 21 << 20]
                r = c.post(base + "/echo", content=body)
                assert r.status_code == 200 and r.content == body, r
                r = c.get(base + "/missing")
                assert r.status_code == 404 and r.json()["type"] == "not_found", r.text
            print("ok")
            """
            let r = try await run(TestPaths.python, ["-c", script, s.base], timeout: .seconds(40))
            #expect(r.status == 0 && r.stdoutText == "ok\n", "python=\(TestPaths.python): \(r.stdoutText)\(r.stderr)")
            await s.stop()
        }
    

        @Test func ipv6AndDualStackListeners() async throws {
            let s = try TestServer()
            try s.server.start(host: "::", port: 0)  // a second listener, dual-stack
            let v6 = s.server.boundPorts.last!
            #expect(try await curl("http://[::1]:\(v6)/hello", http2: true, ["-g"]) == "200|hello")
            #expect(try await curl("http://127.0.0.1:\(v6)/hello", http2: false) == "200|hello")
            await s.stop()
        }

        @Test func http1PipeliningAndHead() async throws {
            let s = try TestServer()
            let port = s.port
            let reply = try await blocking { () -> String in
                let c = try RawClient(port: port)
                c.send("GET /hello HTTP/1.1\r\nhost: x\r\n\r\nHEAD /bytes?n=100 HTTP/1.1\r\nhost: x\r\n\r\n"
                       + "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc")
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            let responses = reply.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(responses.count == 3, "\(reply)")
            #expect(responses.first?.hasSuffix("\r\n\r\nhello") == true)
            // RFC 9110 §9.3.2: HEAD gets the GET headers (content-length 100) and no content.
            #expect(responses.dropFirst().first?.contains("content-length: 100\r\n") == true)
            #expect(responses.dropFirst().first?.hasSuffix("\r\n\r\n") == true)
            #expect(responses.last?.contains("connection: close") == true && responses.last?.hasSuffix("abc") == true)
            let head = try await run("curl", ["-sS", "--http2-prior-knowledge", "-I", "\(s.base)/bytes?n=100"])
            #expect(head.stdoutText.contains("content-length: 100"), "\(head.stdoutText)")
            await s.stop()
        }
    }
}
