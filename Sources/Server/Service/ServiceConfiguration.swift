/// Limits and batching of the tokenizer service; every value has a `vqtok serve` flag.
public struct ServiceConfiguration: Sendable {
    /// Batching and admission, the same for every model (each model has its own queue).
    public var batching: BatchPolicy
    /// Most pixels an uploaded image may have, checked from its header before decoding (413).
    public var maxImagePixels: Int
    /// Most pixels an image may have when tokenized at its own size (`resize=none`), and so the
    /// largest grid `decode` accepts (this over the downsample factor squared) (413).
    public var maxNativePixels: Int
    /// Most images in one multipart encode request, and grids in one decode request (413).
    public var maxItemsPerRequest: Int
    /// JPEG quality of decode answers when the request gives none.
    public var defaultJPEGQuality: Int
    /// Tokens in the sliding window of the codebook-health figures.
    public var healthWindowTokens: Int

    public init(batching: BatchPolicy = BatchPolicy(), maxImagePixels: Int = 16_777_216,
                maxNativePixels: Int = 1_048_576, maxItemsPerRequest: Int = 64,
                defaultJPEGQuality: Int = 90, healthWindowTokens: Int = 65_536) {
        self.batching = batching
        self.maxImagePixels = maxImagePixels
        self.maxNativePixels = maxNativePixels
        self.maxItemsPerRequest = maxItemsPerRequest
        self.defaultJPEGQuality = defaultJPEGQuality
        self.healthWindowTokens = healthWindowTokens
    }
}

/// Whether the service takes traffic: /readyz answers 200 only when `.ready`.
public enum Readiness: String, Sendable {
    /// Models are loading or warming up.
    case loading
    case ready
    /// Shutting down: finishing what is in flight.
    case draining
}
