import Imaging
import Tensor
import Testing
@testable import Server
@testable import Tokenizer

/// A service with the tiny model, warmed up, called in process (no sockets).
struct ServiceHarness {
    let service: TokenizerService
    let tokenizer: VQTokenizer

    init(configuration: ServiceConfiguration = ServiceConfiguration(), codebookSize: Int = 40,
         grouped: Bool = false, warm: Bool = true) async throws {
        tokenizer = try TinyModels.tokenizer(grouped ? TinyModels.groupedConfig(codebookSize: codebookSize)
                                                     : TinyModels.config(codebookSize: codebookSize))
        service = TokenizerService(models: [LoadedModel(name: "tiny", engine: tokenizer)], configuration: configuration)
        if warm { try await service.warmUp() }
    }

    func send(_ method: String, _ target: String, headers: [String: String] = [:], body: [UInt8] = []) async
        -> ServiceResponse {
        let (path, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) }
            ?? (target, "")
        return await service.respond(to: ServiceRequest(method: method, path: path, query: query, headers: headers, body: body))
    }

    func json(_ response: ServiceResponse) throws -> JSONValue {
        try JSONParser.parse(response.body)
    }

    /// The ids the tokenizer gives in process for `png` with the default preprocessing.
    func expectedIds(png: [UInt8], mode: ResizeMode = .crop) throws -> IdGrid {
        let image = try ImageCodec.decode(png)
        let input = ImageInput(maxImagePixels: 1 << 24, maxNativePixels: 1 << 20, maxItems: 8)
        let tensor = try input.preprocess(image, mode: mode, config: tokenizer.config, label: "x")
        return tokenizer.encode(tensor).idGrids[0]
    }

    func expectError(_ response: ServiceResponse, _ status: Int, _ fragment: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "status", sourceLocation: sourceLocation)
        let parsed = try? JSONParser.parse(response.body)
        #expect(parsed?["type"] != nil, "error body has a type", sourceLocation: sourceLocation)
        if case .string(let message)? = parsed?["error"] {
            #expect(message.contains(fragment), "'\(message)' names '\(fragment)'", sourceLocation: sourceLocation)
        } else {
            Issue.record("no error message in \(String(decoding: response.body, as: UTF8.self))",
                         sourceLocation: sourceLocation)
        }
    }

    func shutdown() { service.shutdown() }
}
