@testable import Server

/// The routes, methods and statuses openapi.json documents.
struct OpenAPISpec {
    /// path template -> method (lowercase) -> documented status codes.
    let operations: [String: [String: Set<Int>]]
    let errorTypes: Set<String>

    init() throws {
        let root = try JSONParser.parse(try RepositoryFiles.bytes("openapi.json"))
        var operations: [String: [String: Set<Int>]] = [:]
        if case .object(let paths)? = root["paths"] {
            for (path, item) in paths {
                guard case .object(let methods) = item else { continue }
                for (method, operation) in methods {
                    guard case .object(let responses)? = operation["responses"] else { continue }
                    operations[path, default: [:]][method] = Set(responses.compactMap { Int($0.0) })
                }
            }
        }
        self.operations = operations
        var types: Set<String> = []
        if case .array(let values)? = root["components"]?["schemas"]?["Error"]?["properties"]?["type"]?["enum"] {
            for case .string(let t) in values { types.insert(t) }
        }
        errorTypes = types
    }

    /// Whether an answer of `status` to `method` on `template` is documented. 405 is the answer
    /// to any method a documented path does not list.
    func documents(template: String, method: String, status: Int) -> Bool {
        guard let methods = operations[template] else { return false }
        let m = method == "HEAD" ? "get" : method.lowercased()
        guard let statuses = methods[m] else { return status == 405 }
        return statuses.contains(status)
    }
}
