import Foundation
import Testing

/// `vqtok serve` as a user starts it: the real binary on a fixture model, reached with curl,
/// stopped with SIGTERM.
@Suite struct ServeCommandTests {
    @Test func servesUntilSIGTERMThenDrainsAndExitsZero() async throws {
        let model = CommandLineTests.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let port = 20_000 + Int.random(in: 0..<20_000)
        let server = Process()
        server.executableURL = vqtokBinary()
        server.arguments = ["serve", "--model", model, "--host", "127.0.0.1", "--port", String(port),
                            "--drain-seconds", "5"]
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { if server.isRunning { server.terminate() } }

        let base = "http://127.0.0.1:\(port)"
        #expect(try await waitFor(seconds: 240) { try curl([base + "/readyz"]).status == "200" },
                "the server never became ready")
        let encoded = try curl(["--http2-prior-knowledge", "--data-binary", "@" + CommandLineTests.photos[1],
                                "-H", "content-type: image/png", base + "/v1/models/tiny-taming-f16/encode"])
        #expect(encoded.status == "200")
        #expect(encoded.body.contains("\"shape\":[16,16]"))

        kill(server.processIdentifier, SIGTERM)
        #expect(try await waitFor(seconds: 15) { !server.isRunning }, "still running after SIGTERM")
        #expect(server.terminationStatus == 0)
    }
}

extension ServeCommandTests {
    @Test func bodyRateFlagsAreListedAndANegativeRateIsRefused() throws {
        let help = try vqtok(["serve", "--help"])
        #expect(help.stdout.contains("--min-body-bytes-per-second") && help.stdout.contains("--body-rate-window-seconds"))
        let refused = try vqtok(["serve", "--min-body-bytes-per-second=-1"])
        #expect(refused.status != 0 && refused.stderr.contains("--min-body-bytes-per-second must be 0 or more"), "\(refused.stderr)")
    }

    /// Every limit names its own flag when refused.
    @Test func aRefusedLimitNamesItsFlag() throws {
        for (flag, message) in [("--max-body-bytes=0", "--max-body-bytes must be at least 1, not 0"),
                                ("--queue-capacity=0", "--queue-capacity must be at least 1, not 0"),
                                ("--write-timeout-seconds=-5", "--write-timeout-seconds must be at least 1, not -5"),
                                ("--max-batch-wait-ms=-1", "--max-batch-wait-ms must be 0 or more"),
                                ("--max-header-bytes=10", "--max-header-bytes must be at least 1024, not 10")] {
            let run = try vqtok(["serve", flag])
            #expect(run.status == 64 && run.stderr.contains(message), "\(flag): \(run.stderr)")
        }
    }

    /// Two folders whose configs share a name fail before the server listens, naming both
    /// (the service would otherwise hold two models under one name).
    @Test func twoModelsWithOneNameFailBeforeListening() throws {
        let model = CommandLineTests.fixtures.appendingPathComponent("models/tiny-taming-f16").path
        let run = try vqtok(["serve", "--model", model, "--model", model, "--port", "0"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("two models are named") && run.stderr.contains("each needs its own name"), "\(run.stderr)")
        #expect(!run.stderr.contains("listening"), "\(run.stderr)")
    }

    /// A --model folder without config.json fails before the server listens (no port is taken,
    /// nothing says "listening").
    @Test func aMissingModelFolderFailsBeforeListening() throws {
        let missing = temporaryFile("no-such-model").path
        let run = try vqtok(["serve", "--model", missing, "--port", "0"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("\(missing) is not a model directory (no config.json)"), "\(run.stderr)")
        #expect(!run.stderr.contains("listening"), "\(run.stderr)")
    }
}

func vqtokBinary() -> URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vqtok")
}

/// curl's status code and body (`-w` appends the code on a line of its own).
func curl(_ arguments: [String]) throws -> (status: String, body: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-s", "-m", "30", "-w", "\n%{http_code}"] + arguments
    let out = temporaryFile("curl")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    try process.run()
    process.waitUntilExit()
    let text = String(decoding: try Data(contentsOf: out), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
}

/// Polls `condition` every 100 ms until it holds or `seconds` pass.
func waitFor(seconds: Int, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try condition()
}
