import ArgumentParser
import Checkpoint
import Foundation
import HTTP
import Logging
import Server
import Tensor

/// `vqtok serve`: the HTTP/2 tokenizer service (api.md).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve tokenizers over HTTP/2 and HTTP/1.1 (api.md).")

    @Option(name: .customLong("model"), help: ArgumentHelp(
        "A model directory; repeat to serve several, each under its config name.",
        discussion: "Default: every folder under ./Models that holds a config.json."))
    var models: [String] = []

    @Option(help: "Address to listen on (:: is every IPv6 and IPv4 address).")
    var host: String = "::"

    @Option(help: "Port to listen on.")
    var port: Int = 8080

    @Option(help: "Threads for the numeric kernels (OpenBLAS and the runtime's own loops).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup(title: "Batching and admission")
    var batching: BatchingOptions

    @OptionGroup(title: "Limits")
    var limits: LimitOptions

    @Option(help: "Seconds in-flight requests get to finish after SIGTERM or SIGINT.")
    var drainSeconds: Int = 30

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard drainSeconds >= 0 else { throw ValidationError("--drain-seconds must not be negative") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "vqtok")
        KernelThreads.set(threads)

        let directories = try modelDirectories()
        try checkModelFolders(directories)
        let service = TokenizerService(configuration: limits.serviceConfiguration(batching.policy))
        let server = HTTPServer(configuration: limits.httpConfiguration, handler: service.makeHandler(),
                                logger: logger, accessLogger: Logger(label: "vqtok.access"))
        service.attach(server)
        // Listen first so /healthz answers and /readyz says 503 while models load and warm up.
        try server.start(host: host, port: port)
        logger.info("listening on [\(host)]:\(server.boundPort)")

        let finished = AsyncStream<Void>.makeStream()
        let drain = server.installSignalDrain(deadline: .seconds(drainSeconds), onSignal: { signal in
            service.readiness = .draining
            logger.info("signal \(signal): draining for up to \(drainSeconds) s")
        }, onDrained: { clean in
            service.shutdown()
            logger.info(clean ? "drained" : "drain deadline passed; closed what was left")
            finished.continuation.finish()
        })

        for directory in directories {
            let model = try LoadedModel.load(from: directory)
            service.register(model)
            logger.info("loaded \(model.name) from \(directory.path)")
        }
        do {
            try await service.warmUp()
            logger.info("ready: \(service.modelNames.joined(separator: ", "))")
        } catch where service.readiness == .draining {
            // A signal arrived while warming up: that is a requested shutdown, not a failure.
            logger.info("stopped before ready")
        }

        // Runs until a signal has drained the server; then returns, and the process exits 0.
        for await _ in finished.stream { break }
        withExtendedLifetime(drain) {}
    }

    /// Each model is served under its config's name. Before the server listens, every folder's
    /// config is read and validated, and a folder without one, or two folders with one name,
    /// is refused with the folders named.
    private func checkModelFolders(_ directories: [URL]) throws {
        var seen: [String: URL] = [:]
        for directory in directories {
            let file = directory.appendingPathComponent(ModelDirectory.configFileName)
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw ValidationError("\(directory.path) is not a model directory (no \(ModelDirectory.configFileName))")
            }
            let config: ModelConfig
            do { config = try ModelConfig.load(contentsOf: file) } catch {
                throw ValidationError("\(directory.path): \(error)")
            }
            if let first = seen[config.name] {
                throw ValidationError("two models are named '\(config.name)' (\(first.path) and \(directory.path)); "
                    + "each needs its own name in config.json")
            }
            seen[config.name] = directory
        }
    }

    /// The `--model` folders, or every model folder under ./Models.
    private func modelDirectories() throws -> [URL] {
        if !models.isEmpty { return models.map { URL(fileURLWithPath: $0) } }
        let root = URL(fileURLWithPath: "Models")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        let found = names.sorted().map { root.appendingPathComponent($0) }.filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path)
        }
        guard !found.isEmpty else {
            throw ValidationError("no model folder under ./Models; name one with --model DIR")
        }
        return found
    }
}

struct BatchingOptions: ParsableArguments {
    @Option(help: "Most images (or grids) in one batch.")
    var maxBatch: Int = 16

    @Option(help: "Milliseconds a batch may wait for more requests (0: never waits when idle).")
    var maxBatchWaitMs: Int = 0

    @Option(help: "Most pixels (summed over its images) in one batch.")
    var maxBatchPixels: Int = 1_048_576

    @Option(help: "Images or grids that may wait per model; a request that does not fit: 503 with Retry-After.")
    var queueCapacity: Int = 256

    @Option(help: "Seconds a request may wait in its model's queue before it fails with 504.")
    var requestTimeoutSeconds: Int = 30

    func validate() throws {
        try requirePositive([("--max-batch", maxBatch), ("--max-batch-pixels", maxBatchPixels),
                             ("--queue-capacity", queueCapacity), ("--request-timeout-seconds", requestTimeoutSeconds)])
        guard maxBatchWaitMs >= 0 else { throw ValidationError("--max-batch-wait-ms must be 0 or more") }
    }

    var policy: BatchPolicy {
        BatchPolicy(maxBatchItems: maxBatch, maxWait: .milliseconds(maxBatchWaitMs),
                    queueCapacity: queueCapacity, timeout: .seconds(requestTimeoutSeconds),
                    maxBatchPixels: maxBatchPixels)
    }
}

struct LimitOptions: ParsableArguments {
    @Option(help: "Largest request body in bytes (413).")
    var maxBodyBytes: Int = 64 << 20

    @Option(help: "Most pixels an uploaded image may have, checked from its header (413).")
    var maxImagePixels: Int = 16_777_216

    @Option(help: "Most pixels when tokenizing at the image's own size (resize=none) (413).")
    var maxNativePixels: Int = 1_048_576

    @Option(help: "Most images or grids in one request (413).")
    var maxItems: Int = 64

    @Option(help: "Largest request header block in bytes (431); at least 1024, which any client's headers need.")
    var maxHeaderBytes: Int = 16 << 10

    @Option(help: "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS.")
    var maxConcurrentStreams: Int = 100

    @Option(help: "Requests of one connection running at once.")
    var maxRunningPerConnection: Int = 32

    @Option(help: "Open connections.")
    var maxConnections: Int = 1024

    @Option(help: "Seconds an idle connection is kept.")
    var idleTimeoutSeconds: Int = 120

    @Option(help: "Seconds a client has to send its request headers.")
    var headerTimeoutSeconds: Int = 30

    @Option(help: "Seconds a stalled write may wait for the client to read.")
    var writeTimeoutSeconds: Int = 30

    @Option(help: "Slowest request body accepted, in bytes per second over each body-rate window (408; 0: no minimum).")
    var minBodyBytesPerSecond: Int = 1024

    @Option(help: "Seconds the request body rate is averaged over.")
    var bodyRateWindowSeconds: Int = 10

    func validate() throws {
        try requirePositive([("--max-body-bytes", maxBodyBytes), ("--max-image-pixels", maxImagePixels),
                             ("--max-native-pixels", maxNativePixels), ("--max-items", maxItems),
                             ("--max-header-bytes", maxHeaderBytes), ("--max-concurrent-streams", maxConcurrentStreams),
                             ("--max-running-per-connection", maxRunningPerConnection),
                             ("--max-connections", maxConnections), ("--idle-timeout-seconds", idleTimeoutSeconds),
                             ("--header-timeout-seconds", headerTimeoutSeconds),
                             ("--write-timeout-seconds", writeTimeoutSeconds),
                             ("--body-rate-window-seconds", bodyRateWindowSeconds)])
        guard maxHeaderBytes >= 1024 else {
            throw ValidationError("--max-header-bytes must be at least 1024, not \(maxHeaderBytes): every request would be refused")
        }
        guard minBodyBytesPerSecond >= 0 else { throw ValidationError("--min-body-bytes-per-second must be 0 or more") }
    }

    var httpConfiguration: HTTPServerConfiguration {
        var http = HTTPServerConfiguration()
        http.maxRequestBodyBytes = maxBodyBytes
        http.maxHeaderBytes = maxHeaderBytes
        http.maxConcurrentStreams = maxConcurrentStreams
        http.maxRunningHandlersPerConnection = maxRunningPerConnection
        http.maxConnections = maxConnections
        http.idleTimeout = .seconds(idleTimeoutSeconds)
        http.headerTimeout = .seconds(headerTimeoutSeconds)
        http.writeTimeout = .seconds(writeTimeoutSeconds)
        http.minRequestBodyBytesPerSecond = minBodyBytesPerSecond
        http.requestBodyRateWindow = .seconds(bodyRateWindowSeconds)
        return http
    }

    func serviceConfiguration(_ batching: BatchPolicy) -> ServiceConfiguration {
        ServiceConfiguration(batching: batching, maxImagePixels: maxImagePixels,
                             maxNativePixels: maxNativePixels, maxItemsPerRequest: maxItems)
    }
}

/// Fails naming the first flag whose value is not at least 1.
private func requirePositive(_ flags: [(name: String, value: Int)]) throws {
    if let flag = flags.first(where: { $0.value < 1 }) {
        throw ValidationError("\(flag.name) must be at least 1, not \(flag.value)")
    }
}
