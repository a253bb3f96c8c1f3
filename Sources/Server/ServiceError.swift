import Checkpoint
/// An answer that is not a success: its HTTP status, a stable machine-readable type and a
/// message that names the problem. Every failure the service reports goes through this type, so
/// that each one reaches the client as `{"error": "...", "type": "..."}` with its status.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var type: String
    public var message: String
    /// Extra response headers (Retry-After on 503, Allow on 405).
    public var headers: [String: String]

    public init(status: Int, type: String, message: String, headers: [String: String] = [:]) {
        self.status = status
        self.type = type
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// The JSON body `{"error": "...", "type": "..."}`.
    public var body: [UInt8] {
        Array("{\"error\":\(JSONText.quoted(message)),\"type\":\(JSONText.quoted(type))}".utf8)
    }
}

extension ServiceError {
    /// 400: the body is empty, truncated, corrupt or does not follow its declared format.
    public static func badRequest(_ message: String) -> ServiceError {
        ServiceError(status: 400, type: "invalid_request", message: message)
    }

    public static func notFound(_ message: String) -> ServiceError {
        ServiceError(status: 404, type: "not_found", message: message)
    }

    public static func methodNotAllowed(_ method: String, path: String, allowed: [String]) -> ServiceError {
        ServiceError(status: 405, type: "method_not_allowed",
                     message: "\(method) is not allowed on \(path); use \(allowed.joined(separator: " or "))",
                     headers: ["allow": allowed.joined(separator: ", ")])
    }

    /// 406: nothing the route produces matches the request's Accept header.
    public static func notAcceptable(_ accept: String, offered: [String]) -> ServiceError {
        ServiceError(status: 406, type: "not_acceptable",
                     message: "cannot produce any of '\(accept)'; this route answers with "
                         + offered.joined(separator: ", "))
    }

    /// 413: a body over the byte limit or an image over the pixel cap.
    public static func tooLarge(_ message: String) -> ServiceError {
        ServiceError(status: 413, type: "payload_too_large", message: message)
    }

    public static func unsupportedMediaType(_ message: String) -> ServiceError {
        ServiceError(status: 415, type: "unsupported_media_type", message: message)
    }

    /// 422: well-formed token ids that cannot be decoded (out of range, wrong count, not integers).
    public static func invalidIds(_ message: String) -> ServiceError {
        ServiceError(status: 422, type: "invalid_ids", message: message)
    }

    /// 503 with Retry-After: the model's queue is full; retry later or elsewhere.
    public static func overloaded(model: String, retryAfterSeconds: Int) -> ServiceError {
        ServiceError(status: 503, type: "overloaded",
                     message: "the queue of model '\(model)' is full; retry after \(retryAfterSeconds) s",
                     headers: ["retry-after": String(retryAfterSeconds)])
    }

    /// 503: not ready (loading or draining).
    public static func unavailable(_ message: String, retryAfterSeconds: Int = 1) -> ServiceError {
        ServiceError(status: 503, type: "unavailable", message: message,
                     headers: ["retry-after": String(retryAfterSeconds)])
    }

    /// 504: the request waited in the queue past its deadline and was not run.
    public static func deadlineExceeded(model: String, after milliseconds: Int) -> ServiceError {
        ServiceError(status: 504, type: "timeout",
                     message: "the request to model '\(model)' did not start within its deadline of \(milliseconds) ms")
    }

    /// The client went away (stream reset or connection closed) before the work ran. Never
    /// reaches the client; counted in the metrics with nginx's 499.
    public static let cancelled = ServiceError(status: 499, type: "cancelled",
                                               message: "the client cancelled the request")

    public static func internalError(_ message: String) -> ServiceError {
        ServiceError(status: 500, type: "internal", message: message)
    }
}
