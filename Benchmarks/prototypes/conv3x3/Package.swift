// swift-tools-version: 6.0
// A stand-alone prototype (not part of vqtok's build): 3×3 stride-1 convolution as banded
// im2col + sgemm (what Sources/Tensor/Conv2d.swift does) against Winograd F(2×2, 3×3).
// Build and run: swift build -c release && OPENBLAS_CORETYPE=Haswell .build/release/conv3x3 [threads]
import PackageDescription

let package = Package(
    name: "conv3x3",
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas"),
        .executableTarget(name: "conv3x3", dependencies: ["COpenBLAS"]),
    ],
    swiftLanguageModes: [.v6]
)
