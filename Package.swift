// swift-tools-version:6.0
import Foundation
import PackageDescription

/// On x86-64 the vectorized kernels use FMA and AVX2: without a target CPU, `SIMD.addingProduct`
/// compiles to a slow call. Other architectures (aarch64 Linux, Apple silicon) build the portable
/// code with the compiler's default target. The manifest is compiled for the machine that builds,
/// so `arch(x86_64)` is that machine's architecture.
#if arch(x86_64)
let x86TargetCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"], .when(platforms: [.linux]))]
let x86VectorC: [String] = ["-mavx2", "-mfma"]
#else
let x86TargetCPU: [SwiftSetting] = []
let x86VectorC: [String] = []
#endif

/// MPI for data-parallel training (`mpirun -np N mixln train …`), used when the building machine
/// has it: the pkg-config file of Open MPI (`ompi-c`, Debian `libopenmpi-dev`, Homebrew `open-mpi`)
/// or MPICH (`mpich`) in `PKG_CONFIG_PATH` or a usual folder. `MIXLN_MPI=0` builds without it,
/// `MIXLN_MPI=1` requires it. Without MPI the binary trains in one process and says so under mpirun.
/// (The manifest is evaluated, and cached, on the building machine: after installing or removing
/// MPI, `swift package reset` makes the choice again.)
let mpiPackage: String? = {
    let choice = ProcessInfo.processInfo.environment["MIXLN_MPI"]
    if choice == "0" { return nil }
    let folders = (ProcessInfo.processInfo.environment["PKG_CONFIG_PATH"] ?? "").split(separator: ":").map(String.init) + [
        "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/lib/aarch64-linux-gnu/pkgconfig", "/usr/lib64/pkgconfig",
        "/usr/lib/pkgconfig", "/usr/share/pkgconfig", "/usr/local/lib/pkgconfig", "/opt/homebrew/lib/pkgconfig",
    ]
    let found = ["ompi-c", "mpich"].first { name in
        folders.contains { FileManager.default.fileExists(atPath: "\($0)/\(name).pc") }
    }
    if found == nil, choice == "1" { fatalError("MIXLN_MPI=1 but no ompi-c.pc or mpich.pc was found (install libopenmpi-dev)") }
    return found
}()
let mpiTargets: [Target] = mpiPackage.map { package in [
    .systemLibrary(name: "CMPI", pkgConfig: package, providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
    .target(name: "CMixLNMPI", dependencies: ["CMPI"]),
] } ?? []
let mpiDependency: [Target.Dependency] = mpiPackage == nil ? [] : ["CMixLNMPI"]
let mpiDefine: [SwiftSetting] = mpiPackage == nil ? [] : [.define("MIXLN_MPI")]

let fastMath: [SwiftSetting] = x86TargetCPU + [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "MixLN",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mixln", targets: ["mixln"]),
        .library(name: "MixLNModel", targets: ["MixLNModel"]),
        .library(name: "MixLNTrain", targets: ["MixLNTrain"]),
        .library(name: "MixLNData", targets: ["MixLNData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // oneDNN, the deep-learning kernel library PyTorch uses on CPUs: the bf16 GEMM (and the fp32 one) on Linux.
        // Debian's libdnnl-dev ships no pkg-config file; the module map links dnnl and its OpenMP runtime.
        .systemLibrary(
            name: "CDNNL",
            providers: [.apt(["libdnnl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "CMixLNKernels",
            cSettings: [
                .unsafeFlags(["-O3"] + x86VectorC + ["-fno-math-errno", "-fassociative-math",
                                                       "-fno-signed-zeros", "-fno-trapping-math"], .when(platforms: [.linux])),
            ]
        ),
        // The GEMMs behind one C API: oneDNN where it is linked (Linux), BLAS (Accelerate, OpenBLAS) otherwise.
        .target(
            name: "CMixLNGemm",
            dependencies: [
                "CMixLNKernels",
                .target(name: "CDNNL", condition: .when(platforms: [.linux])),
                .target(name: "COpenBLAS", condition: .when(platforms: [.linux])),
            ],
            cSettings: [
                .define("MIXLN_HAVE_DNNL", .when(platforms: [.linux])),
                .unsafeFlags(["-O3"], .when(platforms: [.linux])),
            ],
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]
        ),
        .target(
            name: "MixLNTensor",
            dependencies: ["CMixLNKernels", "CMixLNGemm", .target(name: "COpenBLAS", condition: .when(platforms: [.linux]))],
            swiftSettings: fastMath,
            linkerSettings: [.linkedFramework("Accelerate", .when(platforms: [.macOS]))]
        ),
        // GGUF (llama.cpp's format): the container only — metadata, tensor infos, validation; no numerics.
        .target(name: "MixLNGGUF"),
        .target(name: "MixLNModel", dependencies: ["MixLNTensor", "MixLNGGUF"], resources: [.copy("Presets")], swiftSettings: fastMath),
        .target(name: "MixLNData", dependencies: ["CZlib", "MixLNGGUF"], swiftSettings: fastMath),
        .target(name: "MixLNTrain", dependencies: ["MixLNModel", "MixLNData"], swiftSettings: fastMath),
        .target(name: "MixLNAnalysis", dependencies: ["MixLNTrain", "MixLNModel", "MixLNData"], swiftSettings: fastMath),
        .target(name: "MixLNDistributed", dependencies: ["MixLNTrain"] + mpiDependency, swiftSettings: fastMath + mpiDefine),
        .executableTarget(
            name: "mixln",
            dependencies: ["MixLNAnalysis", "MixLNTrain", "MixLNData", "MixLNModel", "MixLNDistributed",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fastMath
        ),
        .target(name: "MixLNTestSupport", dependencies: ["MixLNTensor", "MixLNGGUF", "CZlib"], path: "Tests/MixLNTestSupport"),
        .testTarget(name: "MixLNTensorTests", dependencies: ["MixLNTensor", "MixLNTestSupport", "CMixLNKernels", "CMixLNGemm"]),
        .testTarget(name: "MixLNModelTests", dependencies: ["MixLNModel", "MixLNTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MixLNDataTests", dependencies: ["MixLNData", "MixLNTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MixLNTrainTests", dependencies: ["MixLNTrain", "MixLNTestSupport"]),
        .testTarget(name: "MixLNAnalysisTests", dependencies: ["MixLNAnalysis", "MixLNTestSupport"]),
        .testTarget(name: "MixLNCLITests", dependencies: ["mixln", "MixLNTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MixLNDistributedTests", dependencies: ["MixLNDistributed"]),
    ] + mpiTargets,
    swiftLanguageModes: [.v5]
)
