// swift-tools-version:6.0
import PackageDescription

// Numeric targets are built for the machine they run on (`-target-cpu native`, as llama.cpp
// does), so SIMD16<Float> becomes zmm code on AVX-512 parts and ymm pairs on AVX2 parts.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "native"]),
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "samdg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "samdg", targets: ["samdg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
    ],
    targets: [
        // System libraries (Debian -dev packages, found through pkg-config).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CZlibSystem", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // PNG/JPEG coding in C, so libpng's and libjpeg's error longjmps never cross Swift frames.
        .target(name: "CImageIO", dependencies: ["CPNG", "CJPEG"]),

        .target(name: "Tensor", swiftSettings: fast),
        .target(name: "H5", dependencies: ["CHDF5", "Tensor"], swiftSettings: fast),
        .target(name: "Primitives", swiftSettings: fast),
        // protoc-c output for proto/samdg_graph.proto (regenerate: Sources/GraphProto/README.md).
        .target(name: "GraphProto", dependencies: ["CProtobufC"]),
        .target(name: "Graph", dependencies: ["Tensor", "Primitives", "GraphProto"], swiftSettings: fast),
        // Streaming-store helpers the Swift SIMD types cannot express (header-only C).
        .target(name: "CSIMD"),
        .target(name: "Kernels", dependencies: ["Tensor", "Primitives", "CBLAS", "CSIMD"], swiftSettings: fast),
        .target(name: "Datasets", dependencies: ["Tensor", "Kernels", "H5", "CImageIO", "CZlibSystem"], swiftSettings: fast),
        .target(name: "Runtime", dependencies: ["Tensor", "Kernels"], swiftSettings: fast),
        .target(name: "Compiler", dependencies: ["Graph", "Runtime"], swiftSettings: fast),
        .target(name: "Train", dependencies: ["Graph", "Compiler", "Runtime", "H5"], swiftSettings: fast),
        .target(name: "Models", dependencies: ["Graph", "Tensor", .product(name: "ZIPFoundation", package: "ZIPFoundation")], swiftSettings: fast),
        // Experiment graphs, fingerprints, the content-addressed store and the DAG runner: nothing model-specific.
        .target(name: "Pipeline", dependencies: [
            "Tensor", .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "SAMMed", dependencies: ["Models", "Train", "Datasets", "Kernels", "Pipeline", "H5"], swiftSettings: fast),
        .target(name: "GoldenCheck", dependencies: ["Train", "Tensor", "Datasets", "Models"], swiftSettings: fast),
        .executableTarget(name: "samdg", dependencies: [
            "GoldenCheck", "Train", "Models", "SAMMed", "Runtime", "Kernels", "Pipeline", "Datasets",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .executableTarget(name: "samdg-bench", dependencies: ["Compiler", "Runtime", "Kernels", "CBLAS", "CSIMD"],
                          path: "bench/Sources", swiftSettings: fast),

        .target(name: "TestSupport", dependencies: ["Tensor", "Graph", "Compiler", "Runtime", "Train"],
                path: "Tests/TestSupport", swiftSettings: fast),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "GraphTests", dependencies: ["Graph", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "SerializationTests", dependencies: ["Graph", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "KernelTests", dependencies: ["Kernels", "Compiler", "Runtime", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "GradientTests", dependencies: ["Graph", "Compiler", "Runtime", "Train", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Graph", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "GoldenTests", dependencies: ["GoldenCheck", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestSupport", "CZlibSystem"], swiftSettings: fast),
        .testTarget(name: "ModelTests", dependencies: ["Models", "Graph", "Train", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "SAMMedTests", dependencies: ["SAMMed", "Models", "Pipeline", "H5", "TestSupport", "Primitives", "Graph", "Train", "Tensor"], swiftSettings: fast),
        .testTarget(name: "PthTests", dependencies: ["Models", "TestSupport"], swiftSettings: fast),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Train", "H5", "TestSupport"], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
