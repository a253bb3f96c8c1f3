import Foundation
import HTTP
import Testing
@testable import Server

/// The tests that start real servers and talk to them with real clients. They run one at a
/// time: on a small machine, parallel full-size passes through a debug build would push each
/// other past the queue deadline.
@Suite(.serialized) enum Integration {}

/// The real server on a loopback port chosen by the system, with the service's handler.
final class LiveServer: Sendable {
    let service: TokenizerService
    let server: HTTPServer
    let port: Int

    var url: String { "http://127.0.0.1:\(port)" }

    init(models: [LoadedModel], configuration: ServiceConfiguration = ServiceConfiguration(),
         http: HTTPServerConfiguration = HTTPServerConfiguration(), warm: Bool = true) async throws {
        service = TokenizerService(models: models, configuration: configuration)
        server = HTTPServer(configuration: http, handler: service.makeHandler())
        try server.start(host: "127.0.0.1", port: 0)
        port = server.boundPort
        service.attach(server)
        if warm { try await service.warmUp() }
    }

    func curl(_ version: Curl.Version) -> Curl { Curl(baseURL: url, version: version) }

    func metrics() async throws -> PrometheusText {
        let answer = try await curl(.http1).request("GET", "/metrics")
        return PrometheusText(String(decoding: answer.body, as: UTF8.self))
    }

    func stop() async {
        await server.stop()
        service.shutdown()
    }
}

/// One server with the fixture model for the whole test run: its warm-up (a full pass at 256²)
/// is paid once. Tests that change the configuration start their own with `withLiveServer`.
enum SharedServers {
    static let fixture = Task<LiveServer, any Error> { try await LiveServer(models: [try Fixtures.model()]) }
}

/// The committed parity fixtures: tiny random-weight models and real photos.
enum Fixtures {
    static let modelName = "tiny-taming-f16"
    static let photos = ["astronaut", "coffee", "chelsea", "rocket"]

    static func model(_ name: String = modelName) throws -> LoadedModel {
        try LoadedModel.load(from: RepositoryFiles.url("Tests/Fixtures/models/\(name)"))
    }

    static func photo(_ name: String) throws -> [UInt8] {
        try RepositoryFiles.bytes("Tests/Fixtures/photos/\(name).png")
    }
}
