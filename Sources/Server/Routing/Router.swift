/// The routes. Each has a template (the metrics label: bounded, never the raw path).
enum Route: Sendable, Equatable {
    case encode(model: String)
    case decode(model: String)
    case models
    case model(String)
    case healthz
    case readyz
    case metrics

    var template: String {
        switch self {
        case .encode: "/v1/models/{model}/encode"
        case .decode: "/v1/models/{model}/decode"
        case .models: "/v1/models"
        case .model: "/v1/models/{model}"
        case .healthz: "/healthz"
        case .readyz: "/readyz"
        case .metrics: "/metrics"
        }
    }

    /// Whether the route answers from memory at once (no model work, nothing to wait for), so
    /// the HTTP layer may run it on the connection's queue instead of in a Task.
    var answersAtOnce: Bool {
        switch self {
        case .encode, .decode: false
        case .healthz, .readyz, .metrics, .models, .model: true
        }
    }

    /// Methods each route answers (HEAD goes with GET).
    var methods: [String] {
        switch self {
        case .encode, .decode: ["POST"]
        default: ["GET", "HEAD"]
        }
    }

    /// The route for `path`, or nil (404). Model names are percent-decoded path segments.
    static func match(_ path: String) -> Route? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let parts = segments.last == "" && segments.count > 1 ? Array(segments.dropLast()) : Array(segments)
        switch parts.count {
        case 1:
            return ["healthz": .healthz, "readyz": .readyz, "metrics": .metrics][String(parts[0])]
        case 2 where parts == ["v1", "models"]:
            return .models
        case 3 where parts[0] == "v1" && parts[1] == "models":
            return name(parts[2]).map(Route.model)
        case 4 where parts[0] == "v1" && parts[1] == "models":
            guard let model = name(parts[2]) else { return nil }
            switch parts[3] {
            case "encode": return .encode(model: model)
            case "decode": return .decode(model: model)
            default: return nil
            }
        default:
            return nil
        }
    }

    private static func name(_ segment: Substring) -> String? {
        guard !segment.isEmpty else { return nil }
        return QueryParameters.percentDecode(segment, plusAsSpace: false)
    }

    /// The metrics label of a path that matched nothing.
    static let unmatchedTemplate = "unmatched"
}
