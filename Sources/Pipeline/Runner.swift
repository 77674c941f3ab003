import Foundation
import Tensor

/// Runs an experiment graph: each stage instance in dependency order is looked up in the store
/// by its fingerprint and run only when the store has no finished record for it.
///
/// ```
///   for instance in topological order:
///       key  = (kind, code, engine, params, digests of input artifacts, external digests)
///       fp   = sha256(canonical key)
///       records/fp exists (and its objects)?  → cached: reuse its outputs
///       else run into tmp/, ingest outputs by digest, write records/fp atomically
/// ```
///
/// Early cutoff falls out of keying on *output digests*: when an upstream stage reruns and
/// produces the same bytes, every downstream key is unchanged, so they stay cached.
public final class PipelineRunner {
    public let store: ContentStore
    public let engineVersion: String
    let runners: [String: StageRunner]
    public var log: (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }

    public init(store: ContentStore, engineVersion: String, runners: [StageRunner]) {
        self.store = store
        self.engineVersion = engineVersion
        self.runners = Dictionary(runners.map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public enum Outcome: Equatable { case cached, ran(seconds: Double) }
    public struct Result { public let instance: String; public let outcome: Outcome; public let record: RunRecord }

    func runner(for inst: StageInstance) throws -> StageRunner {
        guard let r = runners[inst.stage.kind] else {
            throw SamdgError(inst.stage.place, "unknown stage kind \"\(inst.stage.kind)\"; known: \(runners.keys.sorted().joined(separator: ", "))")
        }
        return r
    }

    /// The key of an instance given its upstream records (nil when an upstream has none yet).
    func key(_ inst: StageInstance, upstream: [String: RunRecord]) throws -> StageKey? {
        let r = try runner(for: inst)
        var inputs: [String: String] = [:]
        for (stage, id) in inst.inputs {
            guard let rec = upstream[id] else { return nil }
            for (name, o) in rec.outputs where inst.reads(stage, name) { inputs["\(stage).\(name)"] = o.digest }
        }
        let params = StageParams(instance: inst.id, values: inst.params)
        return StageKey(kind: inst.stage.kind, code: r.version, engine: engineVersion, params: inst.params,
                        inputs: inputs, external: try r.externalInputs(params))
    }

    /// Runs what is not cached; `upTo` stops after the named stage's instances.
    @discardableResult
    public func run(_ spec: ExperimentSpec, upTo: String? = nil) throws -> [Result] {
        let lock = try StoreLock(path: store.root + "/lock")
        defer { withExtendedLifetime(lock) {} }
        var done: [String: RunRecord] = [:]
        var results: [Result] = []
        let all = try spec.instances()
        let lastOfUpTo = all.last(where: { $0.stage.name == upTo })?.id
        for inst in all {
            guard let key = try key(inst, upstream: done) else { throw SamdgError("stage \(inst.id)", "an input stage did not finish") }
            let fp = key.fingerprint
            if let rec = store.record(fp) {
                if store.latest(experiment: spec.name, instance: inst.id)?.fingerprint != fp { try store.write(rec, experiment: spec.name) }
                log("\(inst.id): cached (\(fp.prefix(12)))")
                done[inst.id] = rec
                results.append(Result(instance: inst.id, outcome: .cached, record: rec))
            } else {
                let rec = try execute(inst, key: key, spec: spec, upstream: done)
                done[inst.id] = rec
                results.append(Result(instance: inst.id, outcome: .ran(seconds: rec.seconds), record: rec))
            }
            if inst.id == lastOfUpTo { break }
        }
        return results
    }

    func execute(_ inst: StageInstance, key: StageKey, spec: ExperimentSpec, upstream: [String: RunRecord]) throws -> RunRecord {
        let fp = key.fingerprint
        let why = store.latest(experiment: spec.name, instance: inst.id).map { key.changes(since: $0.key) } ?? ["never run"]
        log("\(inst.id): running (\(why.isEmpty ? "outputs missing from the store" : why.joined(separator: "; ")))")
        var inputs: [String: [String: String]] = [:]
        for (stage, id) in inst.inputs {
            inputs[stage] = upstream[id]!.outputs.filter { inst.reads(stage, $0.key) }.mapValues { store.objectPath($0.digest) }
        }
        let outDir = try store.makeTempDir(inst.id)
        defer { try? FileManager.default.removeItem(atPath: outDir) }
        let ctx = StageContext(instance: inst.id, params: StageParams(instance: inst.id, values: inst.params), inputs: inputs,
                               outputDir: outDir, workDir: try store.workDir(fp), log: { [log] in log("  \(inst.id): \($0)") })
        let t0 = Date()
        let files: [String: String]
        do { files = try runner(for: inst).run(ctx) } catch let e as SamdgError {
            throw SamdgError("stage \(inst.id)", "\(e.place): \(e.message)")
        }
        var outputs: [String: RunRecord.Output] = [:]
        for (name, file) in files.sorted(by: { $0.key < $1.key }) {
            let path = file.hasPrefix("/") ? file : outDir + "/" + file
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: path) else {
                throw SamdgError("stage \(inst.id)", "declared output \"\(name)\" at \(path) was not written")
            }
            let bytes = (attrs[.size] as? Int) ?? 0
            outputs[name] = RunRecord.Output(digest: try store.ingest(file: path), file: (file as NSString).lastPathComponent, bytes: bytes)
        }
        let rec = RunRecord(instance: inst.id, key: key, fingerprint: fp, outputs: outputs, seconds: Date().timeIntervalSince(t0))
        try store.write(rec, experiment: spec.name)
        try? FileManager.default.removeItem(atPath: store.root + "/work/" + fp)
        log("\(inst.id): done in \(String(format: "%.1f", rec.seconds)) s")
        return rec
    }
}
