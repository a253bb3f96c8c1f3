import Foundation
import Testing
@testable import HTTP

extension HTTPIntegrationTests {
    /// `HTTPHandler.respondInline`: answers given on the connection's queue, in the same turn,
    /// beside the general path (`handle` in a Task) that every other request still takes.
    @Suite struct InlineHandlerTests {
        @Test(arguments: [true, false])
        func inlineAnswersRunOutsideAnyTaskAndOthersStillGetOne(http2: Bool) async throws {
            let s = try TestServer()
            #expect(try await curl("\(s.base)/inline", http2: http2) == "200|inline")
            #expect(try await curl("\(s.base)/inline", http2: http2, ["-I"]).hasPrefix("200|"), "HEAD")
            #expect(s.probe.inline == 2 && s.probe.inlineInTask == 0)
            #expect(s.probe.started == 0, "the general path was not taken for inline answers")
            #expect(try await curl("\(s.base)/hello", http2: http2) == "200|hello")
            #expect(s.probe.started == 1)
            let stats = s.server.stats()
            #expect(stats.requestsAnsweredInline == 2 && stats.requestsTotal == 3)
            #expect(stats.handlersRunning == 0)
            await s.stop()
        }

        @Test func pipelinedHTTP1AnswersKeepRequestOrderAcrossBothPaths() async throws {
            let s = try TestServer()
            let port = s.port
            let reply = try await blocking { () -> String in
                let c = try RawClient(port: port)
                c.send(["/slow?ms=50", "/inline", "/hello", "/inline"].map { "GET \($0) HTTP/1.1\r\nhost: x\r\n\r\n" }.joined()
                       + "GET /inline HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                _ = c.waitForClose()
                return String(decoding: c.received, as: UTF8.self)
            }
            let bodies = reply.components(separatedBy: "HTTP/1.1 200 OK\r\n").dropFirst()
                .map { $0.components(separatedBy: "\r\n\r\n").last ?? "" }
            #expect(bodies == ["slow", "inline", "hello", "inline", "inline"], "\(reply)")
            #expect(s.probe.inline == 3 && s.probe.started == 2)
            await s.stop()
        }

        @Test func http2InlineAnswersDoNotWaitForAHandlerSlot() async throws {
            let s = try TestServer { $0.maxRunningHandlersPerConnection = 1 }
            let c = try RawClient(port: s.port)
            try await blocking { c.send(H2.start() + H2.get("/hang", stream: 1)) }
            try await waitFor("the only handler slot to be taken") { s.probe.started == 1 }
            // /hello waits for the slot /hang holds; /inline is answered meanwhile.
            let frames = try await blocking { () -> [H2.Frame] in
                c.send(H2.get("/hello", stream: 3) + H2.get("/inline", stream: 5))
                return H2.parse(c.readUntil { H2.parse($0).contains { $0.stream == 5 && $0.flags & H2.endStream != 0 } })
            }
            #expect(frames.contains { $0.stream == 5 && $0.type == H2.FrameType.data.rawValue && $0.payload == Array("inline".utf8) })
            #expect(!frames.contains { $0.stream == 3 }, "/hello still waits behind /hang")
            // Freeing the slot lets the waiting request run.
            let after = try await blocking { () -> [H2.Frame] in
                c.send(H2.rst(1))
                return H2.parse(c.readUntil { H2.parse($0).contains { $0.stream == 3 && $0.flags & H2.endStream != 0 } })
            }
            #expect(after.contains { $0.stream == 3 && $0.type == H2.FrameType.data.rawValue && $0.payload == Array("hello".utf8) })
            #expect(s.probe.inlineInTask == 0)
            await s.stop()
        }
    }
}
