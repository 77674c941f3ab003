import ArgumentParser
import Foundation
import GoldenCheck
import Kernels

struct Samdg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samdg",
        abstract: "Static op graphs on OpenBLAS and SIMD kernels, and the SAMMed pipeline.",
        subcommands: [CheckGolden.self, Demo.self, Bench.self, Profile.self, Predict.self, DataCommand.self,
                      Run.self, Status.self, Explain.self, GC.self])
}

struct CheckGolden: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-golden",
        abstract: "Evaluate the cases of a golden manifest; one line per case, then 'N passed, M failed'.")

    @Argument(help: "Path to manifest.json") var manifest: String
    @Option(help: "Only cases of this group (ops, prep, models)") var group: String?
    @Option(name: .customLong("case"), help: "Only the case with this name") var caseName: String?
    @Option(help: "Leave out the case with this name (repeatable)") var skip: [String] = []
    @Flag(help: "Print every compared quantity and the time per case") var verbose = false
    @Option(help: "Worker threads (one pool for SIMD kernels and split GEMMs; OpenBLAS itself runs single-threaded)") var threads: Int = 2

    func run() throws {
        Parallel.configure(threads: threads)
        let s = try GoldenRunner.run(manifest: manifest, group: group, caseName: caseName, skip: skip, verbose: verbose)
        if s.failed > 0 { throw ExitCode(1) }
    }
}

Samdg.main()
