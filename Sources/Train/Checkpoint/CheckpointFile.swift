import Foundation
import H5
import Tensor

/// Reading and writing a `Checkpoint` as HDF5 (layout in `Checkpoint`'s documentation).
extension Checkpoint {
    public static let formatName = "samdg-checkpoint"
    public static let formatVersion = 1

    /// Writes the checkpoint atomically: a temporary file beside `path` is filled, closed,
    /// fsync'd and renamed over `path`. On any failure `path` keeps its previous contents and the
    /// temporary file is removed.
    public func save(to path: String) throws {
        try validateForSave(place: path)
        try H5File.writeAtomically(to: path) { f in
            try f.setAttribute("format", Checkpoint.formatName)
            try f.setAttribute("format_version", Checkpoint.formatVersion)
            try f.setAttribute("step", step)
            try f.setAttribute("epoch", epoch)
            try f.setAttribute("config_fingerprint", configFingerprint)

            try f.createGroups("weights")
            for key in weights.keys.sorted() { try f.write(weights[key]!, at: "weights/\(key)") }

            if let optimizer {
                try f.createGroups("optimizer/state")
                try f.setAttribute("kind", optimizer.kind.name, on: "optimizer")
                try f.setAttribute("step_count", optimizer.stepCount, on: "optimizer")
                for (k, v) in optimizer.kind.hyperParameters.sorted(by: { $0.key < $1.key }) {
                    try f.setAttribute(k, v, on: "optimizer")
                }
                for key in optimizer.state.keys.sorted() { try f.write(optimizer.state[key]!, at: "optimizer/state/\(key)") }
            }

            try f.createGroups("metadata")
            for (k, v) in metadata.sorted(by: { $0.key < $1.key }) { try f.setAttribute(k, v, on: "metadata") }
        }
    }

    /// Reads and validates a checkpoint written by `save(to:)`. Errors name the file and the
    /// dataset or attribute that is missing or wrong.
    public static func load(path: String) throws -> Checkpoint {
        let f = try H5File.open(path)
        defer { try? f.close() }
        let format = try f.stringAttribute("format")
        guard format == formatName else {
            throw SamdgError(path, "format is \"\(format)\" (expected \"\(formatName)\")")
        }
        let version = try f.intAttribute("format_version")
        guard (1...formatVersion).contains(version) else {
            throw SamdgError(path, "format_version \(version) is not supported (expected 1...\(formatVersion))")
        }
        var c = Checkpoint(weights: try readTensors(f, group: "weights"),
                           step: try f.intAttribute("step"),
                           epoch: try f.intAttribute("epoch"),
                           configFingerprint: try f.stringAttribute("config_fingerprint"))
        guard c.step >= 0, c.epoch >= 0 else { throw SamdgError(path, "step \(c.step) and epoch \(c.epoch) must not be negative") }

        if f.exists("optimizer") {
            let name = try f.stringAttribute("kind", of: "optimizer")
            let kind = try OptimizerKind(name: name, place: "\(path):/optimizer") { try f.doubleAttribute($0, of: "optimizer") }
            let snapshot = OptimizerSnapshot(kind: kind, stepCount: try f.intAttribute("step_count", of: "optimizer"),
                                             state: try readTensors(f, group: "optimizer/state"))
            try snapshot.validate(parameters: c.weights.mapValues { $0.shape }, place: "\(path):/optimizer/state")
            c.optimizer = snapshot
        }

        if f.exists("metadata") {
            for k in try f.attributeNames(of: "metadata") { c.metadata[k] = try f.stringAttribute(k, of: "metadata") }
        }
        try f.close()
        return c
    }

    /// Every dataset directly in `group` by name; a nested group is an error.
    private static func readTensors(_ f: H5File, group: String) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for name in try f.members(of: group) {
            out[name] = try f.read("\(group)/\(name)")
        }
        return out
    }

    /// Names must be usable as one HDF5 link name (PyTorch keys are: dots, no slashes).
    private func validateForSave(place: String) throws {
        func checkKey(_ key: String, _ what: String) throws {
            guard !key.isEmpty, !key.contains("/"), key != ".", key != "..", !key.contains("\0") else {
                throw SamdgError(place, "\(what) name \"\(key)\" is not a valid dataset name (expected a non-empty key without \"/\")")
            }
        }
        for k in weights.keys { try checkKey(k, "weight") }
        if let optimizer {
            for k in optimizer.state.keys { try checkKey(k, "optimizer state") }
            try optimizer.validate(parameters: weights.mapValues { $0.shape }, place: "\(place): optimizer state")
        }
        for (k, v) in metadata where k.isEmpty || k.contains("\0") || v.contains("\0") {
            throw SamdgError(place, "metadata \"\(k)\" has an empty key or a NUL character (expected text)")
        }
        guard step >= 0, epoch >= 0 else { throw SamdgError(place, "step \(step) and epoch \(epoch) must not be negative") }
    }
}
