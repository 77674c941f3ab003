import Foundation
import Pipeline
import Tensor

/// Small stages for runner tests: each records its runs, so tests see what was recomputed.
final class RunLog { var runs: [String] = [] }

func tempStore() throws -> ContentStore {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-store-\(UInt32.random(in: 0...UInt32.max))").path
    return try ContentStore(root: d)
}

/// Writes "seed × scale" numbers.
struct SourceStage: StageRunner {
    let log: RunLog
    var kind: String { "source" }
    var version: String { "1" }
    func run(_ c: StageContext) throws -> [String: String] {
        log.runs.append(c.instance)
        let n = try c.params.int("n"), seed = try c.params.double("seed", 1)
        let text = (0..<n).map { String(Double($0) * seed) }.joined(separator: "\n")
        try AtomicFile.write(Data(text.utf8), to: c.outputDir + "/values.txt")
        return ["values": "values.txt"]
    }
}

/// Keeps the values at or above `threshold`, rounded to `digits` decimals (so nearby thresholds
/// can produce identical bytes: early cutoff).
struct FilterStage: StageRunner {
    let log: RunLog
    var kind: String { "filter" }
    var version: String { "1" }
    func run(_ c: StageContext) throws -> [String: String] {
        log.runs.append(c.instance)
        let text = try String(contentsOfFile: c.input("src", "values"), encoding: .utf8)
        let t = try c.params.double("threshold")
        let kept = text.split(separator: "\n").compactMap { Double($0) }.filter { $0 >= t }
        try AtomicFile.write(Data(kept.map { String($0) }.joined(separator: "\n").utf8), to: c.outputDir + "/kept.txt")
        return ["kept": "kept.txt"]
    }
}

/// Sums its inputs; optionally fails after writing a checkpoint into its work folder (a stand-in
/// for a killed training run), and resumes from it.
struct SumStage: StageRunner {
    let log: RunLog
    var failOnce: Bool = false
    var kind: String { "sum" }
    var version: String { "1" }
    func run(_ c: StageContext) throws -> [String: String] {
        log.runs.append(c.instance)
        let ckpt = c.workDir + "/partial.txt"
        let resumed = FileManager.default.fileExists(atPath: ckpt)
        let text = try String(contentsOfFile: c.input("filter", "kept"), encoding: .utf8)
        let sum = text.split(separator: "\n").compactMap { Double($0) }.reduce(0, +)
        if failOnce && !resumed {
            try AtomicFile.write(Data("half".utf8), to: ckpt)
            throw SamdgError("sum", "simulated crash")
        }
        try AtomicFile.write(Data("\(sum) resumed=\(resumed)".utf8), to: c.outputDir + "/sum.txt")
        return ["sum": "sum.txt"]
    }
}

let toyGraph = """
experiment: toy
sweep:
  seed: [1, 2]
stages:
  src:
    kind: source
    params: {n: 10, seed: $seed}
  filter:
    kind: filter
    inputs: [src]
    params: {threshold: 4.5}
  total:
    kind: sum
    inputs: [filter]
"""
