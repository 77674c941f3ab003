import Foundation
import Tensor

/// The content-addressed artifact store (default `data/cache`, ignored by git).
///
/// ```
/// data/cache/
///   objects/ab/abcdef…     immutable artifacts named by their SHA-256 (HDF5, JSON, PNG, …)
///   records/<fp>.json      one finished stage run: its key parts and output digests
///   latest/<exp>/<id>.json the key of the last run of each stage instance (for status/explain)
///   work/<fp>/             scratch that survives a kill: checkpoints to resume from
///   tmp/                   outputs being written; gc removes leftovers
///   lock                   flock held by a running `samdg run`
/// ```
///
/// An object enters the store only by `rename` of a complete, synced file, and a record is
/// written (atomically) only after all its objects are in place, so a kill at any moment leaves
/// either the old state or the new one, plus garbage in `tmp/` and `work/`.
public final class ContentStore {
    public let root: String

    public init(root: String) throws {
        self.root = root
        for d in ["objects", "records", "latest", "work", "tmp"] {
            do { try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) } catch {
                throw SamdgError(root, "cannot create the store folder \(d): \(error.localizedDescription)")
            }
        }
    }

    public func objectPath(_ digest: String) -> String { "\(root)/objects/\(digest.prefix(2))/\(digest)" }
    public func has(_ digest: String) -> Bool { FileManager.default.fileExists(atPath: objectPath(digest)) }

    /// A fresh folder under tmp/ for a stage to write its outputs into.
    public func makeTempDir(_ label: String) throws -> String {
        let safe = label.map { $0.isLetter || $0.isNumber ? $0 : "_" }
        let d = "\(root)/tmp/\(String(safe))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Moves a finished file into the store under its digest (or drops it when the store already
    /// has those bytes); returns the digest.
    public func ingest(file path: String) throws -> String {
        let digest = try Digest.of(file: path)
        let dest = objectPath(digest)
        if has(digest) {
            try? FileManager.default.removeItem(atPath: path)
            return digest
        }
        try FileManager.default.createDirectory(atPath: "\(root)/objects/\(digest.prefix(2))", withIntermediateDirectories: true)
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SamdgError(path, "cannot open the output to store it") }
        fsync(fd); close(fd)
        chmod(path, 0o444)
        guard rename(path, dest) == 0 else {
            throw SamdgError(path, "cannot move the output into the store at \(dest): \(String(cString: strerror(errno)))")
        }
        return digest
    }

    // MARK: records

    func recordPath(_ fingerprint: String) -> String { "\(root)/records/\(fingerprint).json" }

    /// The record of a finished run with this fingerprint, if all its objects are still present.
    public func record(_ fingerprint: String) -> RunRecord? {
        guard let data = FileManager.default.contents(atPath: recordPath(fingerprint)),
              let r = try? JSONDecoder().decode(RunRecord.self, from: data),
              r.outputs.values.allSatisfy({ has($0.digest) }) else { return nil }
        return r
    }

    public func write(_ record: RunRecord, experiment: String) throws {
        let data = try Self.encoder.encode(record)
        try AtomicFile.write(data, to: recordPath(record.fingerprint))
        try AtomicFile.write(data, to: latestPath(experiment: experiment, instance: record.instance))
    }

    func latestPath(experiment: String, instance: String) -> String {
        func safe(_ s: String) -> String { String(s.map { $0.isLetter || $0.isNumber || "-_.=,".contains($0) ? $0 : "_" }) }
        return "\(root)/latest/\(safe(experiment))/\(safe(instance)).json"
    }

    /// The last finished run of an instance in an experiment (whatever its fingerprint).
    public func latest(experiment: String, instance: String) -> RunRecord? {
        guard let data = FileManager.default.contents(atPath: latestPath(experiment: experiment, instance: instance)) else { return nil }
        return try? JSONDecoder().decode(RunRecord.self, from: data)
    }

    public func workDir(_ fingerprint: String) throws -> String {
        let d = "\(root)/work/\(fingerprint)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }()
}

/// One finished stage run.
public struct RunRecord: Codable {
    public struct Output: Codable { public let digest: String; public let file: String; public let bytes: Int }
    public let instance: String
    public let key: StageKey
    public let fingerprint: String
    public let outputs: [String: Output]
    public let seconds: Double
}
