// swift-tools-version: 6.2
import PackageDescription

// Layering (each module knows only those listed before it):
//   C libraries -> Tensor -> Checkpoint -> Tokenizer
//   SearchKernels -> Tokenizer     (the search's AVX2 loops; knows nothing else)
//   C libraries -> Imaging
//   C libraries -> HTTP            (knows nothing of models)
//   Server (HTTP + Tokenizer + Imaging) -> vqtok (command line)
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

// SearchKernels is built for AVX2 and FMA (x86-64-v3) on x86-64; Tokenizer runs it only on a
// CPU that has both and keeps a baseline path for the others.
#if arch(x86_64)
let searchKernelFlags: [SwiftSetting] = optimizedInDebug + [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma"])]
#else
let searchKernelFlags: [SwiftSetting] = optimizedInDebug
#endif

let package = Package(
    name: "vqtok",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vqtok", targets: ["vqtok"]),
        .executable(name: "vqtok-http-bench", targets: ["vqtok-http-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // The metric initialisers' `factory:` parameter (per-service registries) arrived in 2.13.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C libraries (Debian: libopenblas-dev, libpng-dev, libjpeg-dev, libnghttp2-dev).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng16",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CLibJPEG", pkgConfig: "libjpeg",
                       providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2",
                       providers: [.apt(["libnghttp2-dev"])]),
        // libjpeg reports errors by longjmp; the shim owns the setjmp so no Swift frame is crossed.
        .target(name: "CJPEGShim", dependencies: ["CLibJPEG"]),

        // The numeric kernels are optimized in debug builds too: unoptimized SIMD and pointer
        // loops run 10-50x slower, which makes the parity tests take minutes.
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: optimizedInDebug),
        .target(name: "Checkpoint", dependencies: ["Tensor"]),
        .target(name: "SearchKernels", swiftSettings: searchKernelFlags),
        .target(name: "Tokenizer", dependencies: ["Tensor", "Checkpoint", "COpenBLAS", "SearchKernels"],
                swiftSettings: optimizedInDebug),
        .target(name: "Imaging", dependencies: ["Tensor", "CLibPNG", "CJPEGShim"]),
        .target(name: "HTTP", dependencies: [
            "CNGHTTP2",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Server", dependencies: [
            "HTTP", "Tokenizer", "Imaging", "Checkpoint",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "vqtok", dependencies: [
            "Server", "Tokenizer", "Imaging", "Checkpoint",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // A bare HTTP server with a fixed response, for Scripts/bench-http.sh.
        .executableTarget(name: "vqtok-http-bench", dependencies: ["HTTP"]),

        // What the test targets share: tolerance checks and seeded values.
        .target(name: "TestSupport", dependencies: ["Tensor"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Checkpoint", "Imaging", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "CommandLineTests", dependencies: ["vqtok", "Checkpoint"]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Tokenizer", "Imaging", "Checkpoint", "HTTP", "Tensor", "TestSupport",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
