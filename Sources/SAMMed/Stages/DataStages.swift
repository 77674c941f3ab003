import Datasets
import Foundation
import Pipeline
import Tensor

/// `phantoms`: the synthetic multi-domain data (``PhantomSpec``), one domain file per domain,
/// as outputs `domain.<name>`. Parameters: count (images per domain), size, seed, and
/// optionally `domains` (names of the default shifts to keep, in order).
public struct PhantomStage: StageRunner {
    public var kind: String { "phantoms" }
    public var version: String { "1" }
    public init() {}

    public func run(_ c: StageContext) throws -> [String: String] {
        var spec = PhantomSpec(imagesPerDomain: try c.params.int("count", 32), size: try c.params.int("size", 128),
                               seed: UInt64(try c.params.int("seed", 0)))
        if c.params.has("domains") {
            let names = try c.params.strings("domains")
            spec.domains = try names.map { n in
                guard let d = DomainShift.defaults.first(where: { $0.name == n }) else {
                    throw SamdgError("stage \(c.instance): param domains", "no phantom domain \"\(n)\"; have \(DomainShift.defaults.map(\.name).joined(separator: ", "))")
                }
                return d
            }
        }
        var out: [String: String] = [:]
        for (i, shift) in spec.domains.enumerated() {
            let d = try spec.generate(domain: i)
            try d.write(to: c.outputDir + "/\(shift.name).h5")
            out["domain.\(shift.name)"] = "\(shift.name).h5"
            c.log("\(shift.name): \(d.count) images \(spec.size)², foreground \(String(format: "%.1f", 100 * d.foregroundFraction))%")
        }
        return out
    }
}

/// `import`: one domain from files on disk (``Importer``): params `format` (saml, folder,
/// nifti), `path`, `domain`, and optionally `mask_rule`, `size`, `foreground_only`,
/// `on_error` (skip/stop), `images`, `masks` (subfolders), `limit`. The digest of every file
/// under `path` enters the fingerprint, so changed data reruns the experiment.
public struct ImportStage: StageRunner {
    public var kind: String { "import" }
    public var version: String { "1" }
    public init() {}

    public func externalInputs(_ p: StageParams) throws -> [String: String] {
        let path = try p.string("path")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SamdgError("stage \(p.instance): param path", "\(path) does not exist")
        }
        return ["path": isDir.boolValue ? try Digest.of(folder: path) : try Digest.of(file: path)]
    }

    public func run(_ c: StageContext) throws -> [String: String] {
        let p = c.params
        let fmtName = try p.oneOf("format", ImportFormat.allCases.map(\.rawValue), "folder")
        let domain = try p.string("domain")
        var o = ImportOptions(domain: domain)
        if p.has("mask_rule") { o.maskRule = try MaskRule(parsing: try p.string("mask_rule")) }
        if p.has("size") { o.size = try p.int("size") }
        o.foregroundOnly = try p.bool("foreground_only", false)
        o.onError = OnError(rawValue: try p.oneOf("on_error", OnError.allCases.map(\.rawValue), "stop"))!
        if p.has("images") { o.imagesSubdir = try p.string("images") }
        if p.has("masks") { o.masksSubdir = try p.string("masks") }
        if p.has("limit") { o.limit = try p.int("limit") }
        let d = try Importer.run(ImportFormat(rawValue: fmtName)!, from: try p.string("path"), options: o)
        try d.write(to: c.outputDir + "/\(domain).h5")
        c.log("\(domain): \(d.count) images \(d.height)×\(d.width), foreground \(String(format: "%.1f", 100 * d.foregroundFraction))%")
        return ["domain.\(domain)": "\(domain).h5"]
    }
}
