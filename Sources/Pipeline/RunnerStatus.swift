import Foundation
import Tensor

extension PipelineRunner {
    public enum State: Equatable {
        /// The store holds a finished run with this instance's current key.
        case cached
        /// It will run: the reasons say what changed since its last run.
        case stale
        /// An upstream stage will rerun first; whether this one reruns depends on the bytes it
        /// produces (early cutoff).
        case waiting

        public var label: String {
            switch self { case .cached: return "cached"; case .stale: return "stale"; case .waiting: return "stale (after upstream)" }
        }
    }

    public struct Status {
        /// One line per instance for `samdg status`.
        public var line: String {
            instance.padding(toLength: max(28, instance.count + 2), withPad: " ", startingAt: 0) + state.label
                + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))
        }
        public let instance: String
        public let state: State
        public let reasons: [String]
        public let key: StageKey?
        public let last: RunRecord?
    }

    /// Each instance's state without running anything.
    public func status(_ spec: ExperimentSpec) throws -> [Status] {
        var known: [String: RunRecord] = [:]
        var lastOf: [String: RunRecord] = [:]
        var out: [Status] = []
        for inst in try spec.instances() {
            let last = store.latest(experiment: spec.name, instance: inst.id)
            lastOf[inst.id] = last
            if let key = try key(inst, upstream: known) {
                if let rec = store.record(key.fingerprint) {
                    known[inst.id] = rec
                    out.append(Status(instance: inst.id, state: .cached, reasons: [], key: key, last: last))
                } else {
                    let why = last.map { key.changes(since: $0.key) } ?? ["never run"]
                    out.append(Status(instance: inst.id, state: .stale,
                                      reasons: why.isEmpty ? ["outputs missing from the store (gc'd?)"] : why, key: key, last: last))
                }
                continue
            }
            // Some upstream will rerun: say which, and what changed here with the last inputs.
            let pending = inst.inputs.filter { known[$0.id] == nil }.map(\.id)
            var reasons = pending.map { "upstream \($0) reruns first" }
            var guessUp = known
            for (_, id) in inst.inputs where guessUp[id] == nil { guessUp[id] = lastOf[id] }
            if let guess = try key(inst, upstream: guessUp), let last {
                reasons += guess.changes(since: last.key).filter { !$0.hasPrefix("input ") }
            } else if last == nil {
                reasons.append("never run")
            }
            out.append(Status(instance: inst.id, state: .waiting, reasons: reasons, key: nil, last: last))
        }
        return out
    }

    /// The fingerprint parts of each instance of `stage` and what changed since its last run.
    public func explain(_ spec: ExperimentSpec, stage: String) throws -> String {
        guard spec.stage(named: stage) != nil else {
            throw SamdgError(spec.path, "no stage \"\(stage)\"; stages: \(spec.stages.map(\.name).joined(separator: ", "))")
        }
        var text = ""
        for s in try status(spec) where s.instance == stage || s.instance.hasPrefix(stage + "[") {
            text += "\(s.instance): \(s.state.label)\n"
            if let k = s.key {
                text += "  fingerprint \(k.fingerprint)\n  kind \(k.kind), code \(k.code), engine \(k.engine)\n"
                for p in k.params.keys.sorted() { text += "  param \(p) = \(k.params[p]!.canonicalJSON)\n" }
                for i in k.inputs.keys.sorted() { text += "  input \(i) = \(k.inputs[i]!.prefix(12))\n" }
                for e in k.external.keys.sorted() { text += "  external \(e) = \(k.external[e]!.prefix(12))\n" }
            }
            if let l = s.last { text += "  last run: \(l.fingerprint.prefix(12)), \(String(format: "%.1f", l.seconds)) s\n" }
            switch s.state {
            case .cached: text += "  nothing changed: the store answers for it\n"
            case .stale, .waiting: for r in s.reasons { text += "  changed: \(r)\n" }
            }
        }
        return text
    }
}
