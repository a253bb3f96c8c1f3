import ArgumentParser
import Checkpoint
import COpenBLAS
import Foundation
import Tensor
import Tokenizer
#if canImport(Glibc)
import Glibc
#endif

/// `vqtok bench`: timings of this runtime, printed as one JSON object per run.
///
/// Scripts/bench/run.py runs it beside PyTorch, ONNX Runtime and FAISS on the same inputs and
/// threads and prints the ratios; Benchmarks/README.md records the figures. Every figure is
/// a median over `--repeats` timed runs after `--warmup` untimed ones. Speed is never asserted
/// here, only measured.
///
/// OpenBLAS picks its kernels when it loads: run it with OPENBLAS_CORETYPE set (run.py does),
/// and check `openblas.core` in the output.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time encode, decode, codebook search and convolutions (medians, as JSON).",
        subcommands: [Model.self, Search.self, Conv.self])
}

/// Options every bench mode shares.
struct BenchOptions: ParsableArguments {
    @Option(help: "Threads for OpenBLAS and the runtime's own parallel loops.")
    var threads: Int = 1

    @Option(help: "Untimed runs before the timed ones.")
    var warmup: Int = 1

    @Option(help: "Timed runs; the median is reported.")
    var repeats: Int = 5

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    /// Applies the thread count and returns what the libraries report. The kernels split their
    /// work over `threads` Dispatch workers, each running OpenBLAS single-threaded
    /// (`KernelThreads`); the process is also pinned to `threads` of the cores it may use.
    func applyThreads() -> [String: Any] {
        KernelThreads.set(threads)
        let cores = BenchSupport.pinToCores(threads)
        return ["threads": threads, "cores": cores, "openblas": BenchSupport.openBLASInfo()]
    }
}

extension BenchCommand {
    // MARK: encode / decode

    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encode (image tensor to ids) and decode (ids to image tensor) with a model directory.")

        @Option(help: "Model directory (config.json + model.safetensors).")
        var model: String

        @Option(help: "Images as a float32 .npy [B, 3, H, W] in [-1, 1]; random (seeded) when absent.")
        var input: String?

        @Option(help: "Batch size when --input is absent.")
        var batch: Int = 1

        @Option(help: "What to time: encode, decode or both (comma-separated).")
        var what: String = "encode,decode"

        @Option(help: "Writes the ids of the timed encode here (.npy, int32 [B, h, w], or [B, h, w, g] for g ids per position).")
        var idsOut: String?

        @Option(help: "Writes the images of the timed decode here (.npy, float32 [B, 3, H, W] in [-1, 1]).")
        var imageOut: String?

        @OptionGroup var options: BenchOptions

        static let stages: Set<Substring> = ["encode", "decode"]

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            let named = what.split(separator: ",")
            guard !named.isEmpty, named.allSatisfy(Self.stages.contains) else {
                throw ValidationError("--what must name encode, decode or both (comma-separated), not '\(what)'")
            }
        }

        func run() throws {
            var report = options.applyThreads()
            let directory = URL(fileURLWithPath: model)
            let loadStart = ContinuousClock.now
            // As `vqtok serve` loads: the tokenizer reads the tensors one by one as it builds.
            let (config, weights, _) = try ModelDirectory.open(directory)
            let tokenizer = try VQTokenizer(config: config, weights: weights)
            report["load_ms"] = BenchSupport.milliseconds(ContinuousClock.now - loadStart)
            if let rss = BenchSupport.procStatusMegabytes("VmRSS") { report["rss_after_load_mb"] = rss }

            let side = config.preprocessing.resolution
            let images: Tensor
            if let input {
                images = try NPY.readFloat32(URL(fileURLWithPath: input))
                let (channels, factor) = (config.encoderDecoder.inChannels, config.encoderDecoder.downsampleFactor)
                guard images.shape.count == 4, images.shape[0] >= 1, images.shape[1] == channels,
                      images.shape[2] >= factor, images.shape[3] >= factor,
                      images.shape[2] % factor == 0, images.shape[3] % factor == 0 else {
                    throw ValidationError("--input must be [B, \(channels), H, W] with H and W multiples of \(factor); "
                        + "\(input) is \(images.shape)")
                }
            } else {
                images = BenchSupport.randomTensor([batch, config.encoderDecoder.inChannels, side, side],
                                                   seed: 1, range: -1...1)
            }
            report["mode"] = "model"
            report["model"] = config.name
            report["batch"] = images.shape[0]
            report["shape"] = images.shape

            var grid = tokenizer.encode(images)
            if what.contains("encode") {
                let runs = BenchSupport.time(warmup: options.warmup, repeats: options.repeats) {
                    grid = tokenizer.encode(images)
                }
                report["encode_ms"] = BenchSupport.summary(runs)
                report["distinct_ids"] = Set(grid.ids).count
                if let idsOut {
                    try NPY.write(int32: grid.ids, shape: grid.shape,
                                  to: URL(fileURLWithPath: idsOut))
                }
            }
            if what.contains("decode") {
                var image = try tokenizer.decode(grid)
                let runs = try BenchSupport.time(warmup: options.warmup, repeats: options.repeats) {
                    image = try tokenizer.decode(grid)
                }
                report["decode_ms"] = BenchSupport.summary(runs)
                report["decoded_shape"] = image.shape
                if let imageOut {
                    try NPY.write(float32: image.storage, shape: image.shape, to: URL(fileURLWithPath: imageOut))
                }
            }
            if let rss = BenchSupport.procStatusMegabytes("VmHWM") { report["peak_rss_mb"] = rss }
            try BenchSupport.emit(report)
        }
    }

    // MARK: codebook search

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nearest codebook row (squared L2) for each query, batched on BLAS.")

        @Option(help: "Codebook rows when --codebook is absent.")
        var codes: Int = 100_000

        @Option(help: "Code dimension when --codebook is absent.")
        var dim: Int = 8

        @Option(help: "Number of queries when --queries-file is absent.")
        var queries: Int = 256

        @Option(help: "Codebook as a float32 .npy [n, d]; random normal (seeded) when absent.")
        var codebook: String?

        @Option(help: "Queries as a float32 .npy [q, d]; random normal (seeded) when absent.")
        var queriesFile: String?

        @Option(help: "Writes the ids found (.npy, int32 [q]).")
        var idsOut: String?

        @OptionGroup var options: BenchOptions

        func validate() throws {
            guard codes >= 1, dim >= 1 else { throw ValidationError("--codes and --dim must be at least 1") }
            guard queries >= 0 else { throw ValidationError("--queries must be 0 or more") }
        }

        func run() throws {
            var report = options.applyThreads()
            let table = try codebook.map { try NPY.readFloat32(URL(fileURLWithPath: $0)) }
                ?? BenchSupport.randomNormal([codes, dim], seed: 2)
            let points = try queriesFile.map { try NPY.readFloat32(URL(fileURLWithPath: $0)) }
                ?? BenchSupport.randomNormal([queries, table.shape[1]], seed: 3)
            guard table.shape.count == 2, table.shape[0] >= 1, table.shape[1] >= 1 else {
                throw ValidationError("the codebook must be [n, d] with n and d at least 1, not \(table.shape)")
            }
            guard points.shape.count == 2, table.shape[1] == points.shape[1] else {
                throw ValidationError("codebook \(table.shape) and queries \(points.shape) do not match")
            }
            let prepareStart = ContinuousClock.now
            let search = NearestCodeSearch(codebook: table)
            report["prepare_ms"] = BenchSupport.milliseconds(ContinuousClock.now - prepareStart)
            var ids = search.nearest(points)
            let runs = BenchSupport.time(warmup: options.warmup, repeats: options.repeats) {
                ids = search.nearest(points)
            }
            report["mode"] = "search"
            report["codes"] = table.shape[0]
            report["dim"] = table.shape[1]
            report["queries"] = points.shape[0]
            report["search_ms"] = BenchSupport.summary(runs)
            if let idsOut {
                try NPY.write(int32: ids, shape: [ids.count], to: URL(fileURLWithPath: idsOut))
            }
            try BenchSupport.emit(report)
        }
    }

    // MARK: convolutions against the sgemm peak

    struct Conv: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "GFLOP/s of the runtime's convolutions on the model's layer shapes, against sgemm measured in the same run.")

        @Option(help: "Batch of every convolution.")
        var batch: Int = 1

        @Option(help: "Side lengths of the square sgemm used to measure the peak (comma-separated).")
        var sgemmSizes: String = "1024,2048"

        @OptionGroup var options: BenchOptions

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
            let sizes = sgemmSizes.split(separator: ",", omittingEmptySubsequences: false)
            guard sizes.allSatisfy({ Int($0).map { $0 >= 1 } ?? false }) else {
                throw ValidationError("--sgemm-sizes must be positive whole numbers (comma-separated), not '\(sgemmSizes)'")
            }
        }

        /// A convolution of the full-size VQGAN-LC f16 network at 256×256 (what run.py's table uses):
        /// 3×3 stride 1 pad 1 unless noted; `count` is how often it occurs per encode + decode.
        /// The five 3×3 stride-1 shapes are 336 of the network's 390 GFLOP.
        struct Layer {
            var name: String
            var inChannels, outChannels, side, kernel, stride: Int
            var padding: Padding2D
            var count: Int
        }

        static let layers: [Layer] = [
            Layer(name: "3x3 128->128 @256", inChannels: 128, outChannels: 128, side: 256, kernel: 3, stride: 1,
                  padding: .symmetric(1), count: 11),
            Layer(name: "3x3 128->128 @128", inChannels: 128, outChannels: 128, side: 128, kernel: 3, stride: 1,
                  padding: .symmetric(1), count: 9),
            Layer(name: "3x3 256->256 @64", inChannels: 256, outChannels: 256, side: 64, kernel: 3, stride: 1,
                  padding: .symmetric(1), count: 10),
            Layer(name: "3x3 256->256 @32", inChannels: 256, outChannels: 256, side: 32, kernel: 3, stride: 1,
                  padding: .symmetric(1), count: 9),
            Layer(name: "3x3 512->512 @16", inChannels: 512, outChannels: 512, side: 16, kernel: 3, stride: 1,
                  padding: .symmetric(1), count: 17),
            Layer(name: "3x3 s2 128->128 @256 (downsample)", inChannels: 128, outChannels: 128, side: 256, kernel: 3,
                  stride: 2, padding: .rightBottom, count: 1),
            Layer(name: "1x1 512->512 @16 (attention q/k/v/out)", inChannels: 512, outChannels: 512, side: 16,
                  kernel: 1, stride: 1, padding: .zero, count: 28),
        ]

        func run() throws {
            var report = options.applyThreads()
            report["mode"] = "conv"
            report["batch"] = batch

            // The machine's sgemm peak in this process, at these threads.
            var peak = 0.0
            var sgemm: [[String: Any]] = []
            // One sgemm on OpenBLAS's own `threads` threads; the kernels then run it single-threaded again.
            BLAS.setThreadCount(options.threads)
            for size in sgemmSizes.split(separator: ",").map({ Int($0)! }) {
                let runs = BenchSupport.sgemmSquare(size, warmup: options.warmup, repeats: options.repeats)
                let gflops = 2 * pow(Double(size), 3) / (BenchSupport.median(runs) * 1e6)
                peak = max(peak, gflops)
                sgemm.append(["n": size, "ms": BenchSupport.summary(runs), "gflops": gflops])
            }
            BLAS.setThreadCount(1)
            report["sgemm"] = sgemm
            report["sgemm_peak_gflops"] = peak

            var rows: [[String: Any]] = []
            var columns: [Float] = []
            for layer in Self.layers {
                let input = BenchSupport.randomTensor([batch, layer.inChannels, layer.side, layer.side],
                                                      seed: 4, range: -1...1)
                let weight = BenchSupport.randomTensor(
                    [layer.outChannels, layer.inChannels, layer.kernel, layer.kernel], seed: 5, range: -0.05...0.05)
                let bias = BenchSupport.randomTensor([layer.outChannels], seed: 6, range: -0.1...0.1)
                var out = Tensor(zeros: [0])
                let runs = BenchSupport.time(warmup: options.warmup, repeats: options.repeats) {
                    conv2d(&out, input, weight: weight, bias: bias, stride: layer.stride,
                           padding: layer.padding, columns: &columns)
                }
                let outPlane = out.shape[2] * out.shape[3]
                let flops = 2.0 * Double(batch * layer.outChannels * layer.inChannels * layer.kernel
                                         * layer.kernel * outPlane)
                let gflops = flops / (BenchSupport.median(runs) * 1e6)
                var row: [String: Any] = ["layer": layer.name, "count": layer.count, "gflop": flops / 1e9,
                                          "ms": BenchSupport.summary(runs), "gflops": gflops, "of_peak": gflops / peak]
                // What the model runs for 3×3 stride-1 layers: Winograd, timed beside im2col
                // (GFLOP/s counted as for the direct convolution, so it can pass the sgemm peak),
                // with either tile; "winograd" is the one the model picks for this layer.
                if layer.kernel == 3 && layer.stride == 1 && layer.padding == .symmetric(1) {
                    var tiles: [String: Any] = [:]
                    for tile in WinogradTile.allCases {
                        let transformed = Conv3x3Winograd(weight: weight, tile: tile)
                        let winograd = BenchSupport.time(warmup: options.warmup, repeats: options.repeats) {
                            conv3x3Winograd(&out, input, weight: transformed, bias: bias, scratch: &columns)
                        }
                        let winogradGflops = flops / (BenchSupport.median(winograd) * 1e6)
                        tiles["\(tile)"] = ["ms": BenchSupport.summary(winograd), "gflops": winogradGflops,
                                             "of_peak": winogradGflops / peak, "tile": "\(tile)"]
                    }
                    let chosen = WinogradTile.preferred(inChannels: layer.inChannels, outChannels: layer.outChannels)
                    row["winograd"] = tiles["\(chosen)"]
                    row["winograd_tiles"] = tiles
                }
                rows.append(row)
            }
            report["layers"] = rows
            try BenchSupport.emit(report)
        }
    }
}

// MARK: - Support

enum BenchSupport {
    static func milliseconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) * 1e3 + Double(atto) * 1e-15
    }

    /// Wall times in milliseconds of `repeats` runs of `body`, after `warmup` untimed ones.
    static func time(warmup: Int, repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
        for _ in 0..<warmup { try body() }
        var runs: [Double] = []
        runs.reserveCapacity(repeats)
        for _ in 0..<repeats {
            let start = ContinuousClock.now
            try body()
            runs.append(milliseconds(ContinuousClock.now - start))
        }
        return runs
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func summary(_ runs: [Double]) -> [String: Any] {
        ["median": median(runs), "min": runs.min() ?? .nan, "max": runs.max() ?? .nan,
         "runs": runs.map { ($0 * 1000).rounded() / 1000 }]
    }

    static func emit(_ report: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// Restricts this process to the first `count` cores it may run on (sched_setaffinity,
    /// looked up at run time: Glibc's module does not export it), so that Dispatch's workers,
    /// created later, share them. Returns the cores in use afterwards; run.py also pins with
    /// taskset, which covers threads that exist before `main`.
    static func pinToCores(_ count: Int) -> [Int] {
        typealias Affinity = @convention(c) (Int32, Int, UnsafeMutableRawPointer) -> Int32
        guard let getSymbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_getaffinity"),
              let setSymbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return [] }
        let get = unsafeBitCast(getSymbol, to: Affinity.self)
        let set = unsafeBitCast(setSymbol, to: Affinity.self)
        var mask = [UInt8](repeating: 0, count: 128)  // cpu_set_t: 1024 bits
        let allowed: [Int] = mask.withUnsafeMutableBytes { bytes in
            guard get(0, bytes.count, bytes.baseAddress!) == 0 else { return [] }
            return (0..<(bytes.count * 8)).filter { bytes[$0 / 8] & (1 << ($0 % 8)) != 0 }
        }
        guard count < allowed.count else { return allowed }
        mask = [UInt8](repeating: 0, count: 128)
        for cpu in allowed.prefix(count) { mask[cpu / 8] |= UInt8(1 << (cpu % 8)) }
        let ok = mask.withUnsafeMutableBytes { set(0, $0.count, $0.baseAddress!) == 0 }
        return ok ? Array(allowed.prefix(count)) : allowed
    }

    /// A size field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident) in MB;
    /// nil where /proc is absent.
    static func procStatusMegabytes(_ field: String) -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }

    /// Which kernels OpenBLAS chose (it decides when it loads; OPENBLAS_CORETYPE overrides).
    static func openBLASInfo() -> [String: Any] {
        var info: [String: Any] = ["threads": Int(openblas_get_num_threads())]
        let env = ProcessInfo.processInfo.environment
        info["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"] ?? ""
        // openblas_get_corename is exported by the library but not declared in every cblas.h.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_get_corename") {
            typealias CoreName = @convention(c) () -> UnsafePointer<CChar>?
            if let name = unsafeBitCast(symbol, to: CoreName.self)() {
                info["core"] = String(cString: name)
            }
        }
        return info
    }

    /// Median-of-runs timing of C = A·B for n×n row-major matrices.
    static func sgemmSquare(_ n: Int, warmup: Int, repeats: Int) -> [Double] {
        let a = randomTensor([n, n], seed: 7, range: -1...1).storage
        let b = randomTensor([n, n], seed: 8, range: -1...1).storage
        var c = [Float](repeating: 0, count: n * n)
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    time(warmup: warmup, repeats: repeats) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                                    1, pa.baseAddress, Int32(n), pb.baseAddress, Int32(n), 0, pc.baseAddress, Int32(n))
                    }
                }
            }
        }
    }

    /// Uniform values from a fixed-seed generator (SplitMix64), so every run sees the same data.
    static func randomTensor(_ shape: [Int], seed: UInt64, range: ClosedRange<Float>) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let n = shape.reduce(1, *)
        let width = range.upperBound - range.lowerBound
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = range.lowerBound + width * rng.nextUnitFloat() }
        return Tensor(shape: shape, storage: values)
    }

    /// Standard normal values (Box–Muller) from a fixed seed.
    static func randomNormal(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix64(seed: seed)
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            let u1 = max(Double(rng.nextUnitFloat()), 1e-12)
            let u2 = Double(rng.nextUnitFloat())
            let r = (-2 * log(u1)).squareRoot()
            values[i] = Float(r * cos(2 * .pi * u2))
            if i + 1 < n { values[i + 1] = Float(r * sin(2 * .pi * u2)) }
            i += 2
        }
        return Tensor(shape: shape, storage: values)
    }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }
}
