import Foundation
import Tensor

extension ContentStore {
    public struct GCReport { public var files = 0; public var bytes = 0; public var records = 0 }

    /// Cleans the store under its lock: temporary outputs and work folders of killed runs, and
    /// objects no record refers to. With `keepLatestOnly`, records that are no experiment's
    /// latest run go first, so only what `status` would call cached survives.
    public func collectGarbage(keepLatestOnly: Bool = false) throws -> GCReport {
        let lock = try StoreLock(path: root + "/lock")
        defer { withExtendedLifetime(lock) {} }
        let fm = FileManager.default
        var report = GCReport()
        func remove(_ path: String) {
            report.bytes += Self.size(of: path)
            report.files += 1
            try? fm.removeItem(atPath: path)
        }
        for d in (try? fm.contentsOfDirectory(atPath: root + "/tmp")) ?? [] { remove(root + "/tmp/" + d) }
        for d in (try? fm.contentsOfDirectory(atPath: root + "/work")) ?? [] { remove(root + "/work/" + d) }
        var latest = Set<String>()
        if let e = fm.enumerator(atPath: root + "/latest") {
            while let rel = e.nextObject() as? String {
                if rel.hasSuffix(".json"), let d = fm.contents(atPath: root + "/latest/" + rel), let r = try? JSONDecoder().decode(RunRecord.self, from: d) {
                    latest.insert(r.fingerprint)
                }
            }
        }
        var referenced = Set<String>()
        for f in (try? fm.contentsOfDirectory(atPath: root + "/records")) ?? [] {
            let path = root + "/records/" + f
            guard f.hasSuffix(".json"), let d = fm.contents(atPath: path), let r = try? JSONDecoder().decode(RunRecord.self, from: d) else {
                remove(path); continue
            }
            if keepLatestOnly && !latest.contains(r.fingerprint) { remove(path); report.records += 1; continue }
            for o in r.outputs.values { referenced.insert(o.digest) }
        }
        for sub in (try? fm.contentsOfDirectory(atPath: root + "/objects")) ?? [] {
            for obj in (try? fm.contentsOfDirectory(atPath: root + "/objects/" + sub)) ?? [] where !referenced.contains(obj) {
                remove(root + "/objects/\(sub)/\(obj)")
            }
        }
        return report
    }

    static func size(of path: String) -> Int {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return 0 }
        if !isDir.boolValue { return ((try? fm.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        return ((try? fm.subpathsOfDirectory(atPath: path)) ?? []).reduce(0) { $0 + size(of: path + "/" + $1) }
    }
}
