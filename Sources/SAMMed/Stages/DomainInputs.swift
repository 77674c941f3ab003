import Foundation
import Pipeline
import Tensor

extension StageContext {
    /// Domain files from the input data stages (outputs named "domain.<name>"), by domain name.
    func domainFiles() throws -> [String: String] {
        var out: [String: String] = [:]
        for (stage, output, path) in inputs(prefixed: "domain.") {
            let name = String(output.dropFirst("domain.".count))
            if out[name] != nil { throw SamdgError("stage \(instance)", "domain \"\(name)\" comes from two input stages (one is \(stage))") }
            out[name] = path
        }
        guard !out.isEmpty else { throw SamdgError("stage \(instance)", "no input stage provides domain files (outputs named domain.<name>)") }
        return out
    }

    func domain(_ name: String) throws -> DomainImages {
        let files = try domainFiles()
        guard let p = files[name] else {
            throw SamdgError("stage \(instance)", "no domain \"\(name)\"; the data stages provide \(files.keys.sorted().joined(separator: ", "))")
        }
        return try DomainImages.load(p, name: name)
    }

    func split() throws -> SourceSplit { try SourceSplit.read(try input("split", "split")) }

    /// (split name, domain, indices) for the source's train and val splits and each target.
    /// `source`: the source domain when the caller has it loaded already (saves reading it again).
    func evaluationSets(_ split: SourceSplit, includeTrain: Bool, source loaded: DomainImages? = nil) throws -> [(name: String, domain: DomainImages, indices: [Int])] {
        let source = try loaded ?? domain(split.source)
        var sets: [(String, DomainImages, [Int])] = []
        if includeTrain { sets.append(("source_train", source, split.train)) }
        sets.append(("source_val", source, split.val))
        for t in split.targets {
            let d = try domain(t)
            sets.append((t, d, Array(0..<d.count)))
        }
        return sets
    }
}

/// `split`: fixes the source domain's train/val split and the target domains, so stage 1, the
/// embeddings and the refinement all agree on them.
public struct SplitStage: StageRunner {
    public var kind: String { "split" }
    public var version: String { "1" }
    public init() {}

    public func run(_ c: StageContext) throws -> [String: String] {
        let files = try c.domainFiles()
        let source = try c.params.string("source")
        guard files[source] != nil else {
            throw SamdgError("stage \(c.instance): param source", "no domain \"\(source)\"; have \(files.keys.sorted().joined(separator: ", "))")
        }
        let targets = try c.params.strings("targets", files.keys.sorted().filter { $0 != source })
        for t in targets where files[t] == nil { throw SamdgError("stage \(c.instance): param targets", "no domain \"\(t)\"") }
        let count = try DomainImages.load(files[source]!, name: source).count
        let s = try SourceSplit.make(source: source, count: count, valFraction: try c.params.double("val_fraction", 0.2),
                                     seed: UInt64(try c.params.int("seed", 0)), targets: targets)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(s), to: c.outputDir + "/split.json")
        c.log("source \(source): \(s.train.count) train, \(s.val.count) val; targets \(targets.joined(separator: ", "))")
        return ["split": "split.json"]
    }
}
