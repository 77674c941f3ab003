import ArgumentParser
import Foundation
import Kernels
import Pipeline
import SAMMed
import Tensor

/// Options every pipeline command shares.
struct StoreOptions: ParsableArguments {
    @Option(help: "Content-addressed store (default: data/cache)") var store: String = "data/cache"
    @Option(name: .customLong("set"), help: "Override a parameter: STAGE.PARAM=VALUE or vars.NAME=VALUE (repeatable)")
    var overrides: [String] = []

    func spec(_ path: String) throws -> ExperimentSpec {
        var s = try ExperimentSpec.load(path: path)
        try s.apply(overrides: overrides)
        return s
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an experiment graph: only the stages whose fingerprint changed; then print its reports.")
    @Argument(help: "Experiment graph (graphs/*.yaml)") var graph: String
    @OptionGroup var options: StoreOptions
    @Option(help: "Stop after this stage") var upTo: String?
    @Option(help: "Worker threads (one pool for SIMD kernels and split GEMMs; OpenBLAS itself runs single-threaded)") var threads: Int = 2
    @Option(help: "Copy each report's files here (default: data/reports/<experiment>)") var reports: String?

    func run() throws {
        Parallel.configure(threads: threads)
        let spec = try options.spec(graph)
        let runner = try SAMMedStages.runner(store: options.store)
        let t0 = Date()
        let results = try runner.run(spec, upTo: upTo)
        let ran = results.filter { $0.outcome != .cached }
        let dir = reports ?? "data/reports/\(spec.name)"
        for r in results where r.record.key.kind == "report" {
            for (_, o) in r.record.outputs.sorted(by: { $0.key < $1.key }) {
                let src = runner.store.objectPath(o.digest)
                try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: src)), to: "\(dir)/\(r.instance)/\(o.file)")
            }
            if let md = r.record.outputs["table_md"] {
                print(try String(contentsOfFile: runner.store.objectPath(md.digest), encoding: .utf8))
            }
        }
        print(String(format: "%@: %d stage runs, %d recomputed, %d cached, %.1f s; reports in %@",
                     spec.name, results.count, ran.count, results.count - ran.count, Date().timeIntervalSince(t0), dir))
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each stage as cached or stale, and why.")
    @Argument(help: "Experiment graph (graphs/*.yaml)") var graph: String
    @OptionGroup var options: StoreOptions

    func run() throws {
        let spec = try options.spec(graph)
        for s in try SAMMedStages.runner(store: options.store).status(spec) { print(s.line) }
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Say which part of a stage's fingerprint changed since its last run.")
    @Argument(help: "Experiment graph (graphs/*.yaml)") var graph: String
    @Argument(help: "Stage name") var stage: String
    @OptionGroup var options: StoreOptions

    func run() throws {
        print(try SAMMedStages.runner(store: options.store).explain(try options.spec(graph), stage: stage), terminator: "")
    }
}

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Clean the store: leftovers of killed runs and unreferenced artifacts.")
    @Option(help: "Content-addressed store (default: data/cache)") var store: String = "data/cache"
    @Flag(help: "Also drop runs that are no experiment's latest") var keepLatestOnly = false

    func run() throws {
        let r = try ContentStore(root: store).collectGarbage(keepLatestOnly: keepLatestOnly)
        print(String(format: "removed %d files/folders (%.1f MiB), %d records", r.files, Double(r.bytes) / 1048576, r.records))
    }
}
