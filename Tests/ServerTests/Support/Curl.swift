import Foundation

/// Requests through the curl command line: HTTP/2 with prior knowledge or HTTP/1.1.
struct Curl: Sendable {
    enum Version: String, Sendable, CaseIterable { case http2, http1 }

    struct Answer: Sendable {
        var status: Int
        /// The protocol curl used: "2" or "1.1".
        var httpVersion: String
        /// Header names lowercased.
        var headers: [String: String]
        var body: [UInt8]
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
        var errorMessage: String? { (json as? [String: Any])?["error"] as? String }
    }

    let baseURL: String
    let version: Version

    /// `body` is sent as is (`--data-binary`); `form` as multipart/form-data parts (`-F`).
    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil,
                 form: [(name: String, type: String, bytes: [UInt8])] = [], extra: [String] = []) async throws -> Answer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-curl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["-sS", version == .http2 ? "--http2-prior-knowledge" : "--http1.1", "-X", method,
                    "-D", dir.appendingPathComponent("headers").path, "-o", dir.appendingPathComponent("body").path,
                    "-w", "%{http_code} %{http_version}", "-H", "expect:"]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { args += ["-H", "\(name): \(value)"] }
        if let body {
            let file = dir.appendingPathComponent("request")
            try Data(body).write(to: file)
            args += ["--data-binary", "@" + file.path]
        }
        for (n, part) in form.enumerated() {
            let file = dir.appendingPathComponent("part\(n)")
            try Data(part.bytes).write(to: file)
            args += ["-F", "\(part.name)=@\(file.path);type=\(part.type)"]
        }
        if method == "HEAD" { args += ["-I"] }
        args += extra
        args.append(baseURL + path)
        let result = try await ProcessRunner.run("curl", args)
        guard result.status == 0 else {
            throw CurlError(message: "curl \(method) \(path) exited \(result.status): \(result.stderrText)")
        }
        let summary = result.stdoutText.split(separator: " ")
        let headerText = (try? String(contentsOf: dir.appendingPathComponent("headers"), encoding: .utf8)) ?? ""
        // The last header block is the final answer (no 100-continue is asked for, but be safe).
        let block = headerText.components(separatedBy: "\r\n\r\n").last { !$0.isEmpty } ?? ""
        var headerFields: [String: String] = [:]
        for line in block.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headerFields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let bodyBytes = (try? Data(contentsOf: dir.appendingPathComponent("body"))).map { Array($0) } ?? []
        return Answer(status: Int(summary.first ?? "") ?? 0, httpVersion: summary.count > 1 ? String(summary[1]) : "",
                      headers: headerFields, body: bodyBytes)
    }
}

struct CurlError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
