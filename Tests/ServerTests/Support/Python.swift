import Foundation

/// A Python with httpx (HTTP/2) and numpy: $VQTOK_PYTHON, then .venv/bin/python, then python3.
enum Python {
    static func interpreter() async throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["VQTOK_PYTHON"] { candidates.append(explicit) }
        candidates += [RepositoryFiles.url(".venv/bin/python").path, "python3"]
        for candidate in candidates where candidate == "python3" || FileManager.default.fileExists(atPath: candidate) {
            let probe = try? await ProcessRunner.run(candidate, ["-c", "import httpx, h2, numpy"])
            if probe?.status == 0 { return candidate }
        }
        throw CurlError(message: "no Python with httpx[http2] and numpy among \(candidates); "
            + "run Scripts/python-env.sh (or set VQTOK_PYTHON)")
    }

    /// Runs `script` in `directory` with VQTOK_URL set; returns its output.
    static func run(_ script: String, baseURL: String, directory: URL? = nil,
                    timeout: Duration = .seconds(300)) async throws -> ProcessResult {
        let python = try await interpreter()
        let dir = directory ?? FileManager.default.temporaryDirectory
        let file = dir.appendingPathComponent("vqtok-\(UUID().uuidString).py")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await ProcessRunner.run(python, [file.path], directory: dir, environment: ["VQTOK_URL": baseURL],
                                           timeout: timeout)
    }
}
