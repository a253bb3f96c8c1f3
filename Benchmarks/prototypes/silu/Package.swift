// swift-tools-version: 6.0
// A stand-alone prototype (not part of vqtok's build): GroupNorm + SiLU as vqtok runs them
// (two passes, Double statistics, libm expf per element) against one fused pass with a SIMD
// exp. Build and run: swift build -c release && .build/release/silu
import PackageDescription

let package = Package(
    name: "silu",
    targets: [.executableTarget(name: "silu")],
    swiftLanguageModes: [.v6]
)
