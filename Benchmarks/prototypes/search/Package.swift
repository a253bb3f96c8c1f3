// swift-tools-version: 6.0
// A stand-alone prototype (not part of vqtok's build): exact nearest-row search for d = 8
// with bounding-box pruning over a median-split tree, against the same data FAISS gets in
// Scripts/bench/run.py. Build and run:
//   swift build -c release && .build/release/search CODEBOOK.npy QUERIES.npy [threads] [ids.npy]
import PackageDescription

let package = Package(
    name: "search",
    targets: [.executableTarget(name: "search")],
    swiftLanguageModes: [.v6]
)
