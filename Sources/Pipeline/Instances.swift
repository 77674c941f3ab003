import Foundation
import Tensor

/// One runnable node of the expanded DAG: a stage bound to values of the sweep variables it uses.
public struct StageInstance {
    public let stage: ExperimentSpec.Stage
    /// (sweep variable, value) in sweep order; empty for stages that use none.
    public let binding: [(name: String, value: ParamValue)]
    /// Parameters with `$var` / `${var}` substituted.
    public let params: [String: ParamValue]
    /// Upstream instance ids, one per input stage, in declaration order.
    public let inputs: [(stage: String, id: String)]

    /// Whether this instance reads `output` of input stage `stage`.
    public func reads(_ stage: String, _ output: String) -> Bool {
        guard let f = self.stage.inputFilter[stage] else { return false }
        return f.map { $0.contains(output) } ?? true
    }

    /// `segment[source=A]`, or the stage name when it uses no sweep variable.
    public var id: String {
        binding.isEmpty ? stage.name : stage.name + "[" + binding.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "]"
    }
}

extension ExperimentSpec {
    /// Expands the sweep: each stage gets one instance per combination of the sweep variables it
    /// uses (in its parameters or through its inputs), wired to the matching upstream instances.
    /// Returned in dependency order.
    public func instances() throws -> [StageInstance] {
        let sweepNames = sweep.map(\.name)
        var usedBy: [String: Set<String>] = [:]
        var byStage: [String: [StageInstance]] = [:]
        var out: [StageInstance] = []
        for s in stages {
            var used = Set<String>()
            for v in s.params.values { Self.references(v, into: &used) }
            for u in used where !sweepNames.contains(u) && vars[u] == nil {
                throw SamdgError(s.place, "parameter refers to $\(u), which is neither a var nor a sweep variable")
            }
            used = used.filter { sweepNames.contains($0) }
            for i in s.inputStages { used.formUnion(usedBy[i] ?? []) }
            usedBy[s.name] = used
            let axes = sweep.filter { used.contains($0.name) }
            var combos: [[(name: String, value: ParamValue)]] = [[]]
            for axis in axes { combos = combos.flatMap { c in axis.values.map { c + [(axis.name, $0)] } } }
            for binding in combos {
                var env = vars
                for (k, v) in binding { env[k] = v }
                var params: [String: ParamValue] = [:]
                for (k, v) in s.params { params[k] = try Self.substitute(v, env, place: "\(s.place): params.\(k)") }
                let inputs = try s.inputStages.map { name -> (stage: String, id: String) in
                    let upUsed = usedBy[name] ?? []
                    guard let up = byStage[name]?.first(where: { inst in
                        inst.binding.allSatisfy { b in binding.contains { $0.name == b.name && $0.value == b.value } } && inst.binding.count == upUsed.count
                    }) else { throw SamdgError(s.place, "no instance of input \"\(name)\" matches \(binding.map { "\($0.name)=\($0.value)" })") }
                    return (name, up.id)
                }
                let inst = StageInstance(stage: s, binding: binding, params: params, inputs: inputs)
                byStage[s.name, default: []].append(inst)
                out.append(inst)
            }
        }
        return out
    }

    static func references(_ v: ParamValue, into set: inout Set<String>) {
        switch v {
        case .string(let s):
            if s.hasPrefix("$"), !s.hasPrefix("${"), s.count > 1 { set.insert(String(s.dropFirst())) }
            var rest = Substring(s)
            while let open = rest.range(of: "${") {
                guard let close = rest[open.upperBound...].firstIndex(of: "}") else { break }
                set.insert(String(rest[open.upperBound..<close]))
                rest = rest[rest.index(after: close)...]
            }
        case .list(let a): a.forEach { references($0, into: &set) }
        case .map(let m): m.values.forEach { references($0, into: &set) }
        default: break
        }
    }

    static func substitute(_ v: ParamValue, _ env: [String: ParamValue], place: String) throws -> ParamValue {
        switch v {
        case .string(let s):
            if s.hasPrefix("$"), !s.hasPrefix("${"), s.count > 1 {
                guard let r = env[String(s.dropFirst())] else { throw SamdgError(place, "unknown variable \(s)") }
                return r
            }
            if s.hasPrefix("${"), s.hasSuffix("}"), s.dropFirst(2).dropLast().allSatisfy({ $0 != "}" && $0 != "$" }) {
                let name = String(s.dropFirst(2).dropLast())
                guard let r = env[name] else { throw SamdgError(place, "unknown variable ${\(name)}") }
                return r
            }
            var text = s
            for (k, r) in env { text = text.replacingOccurrences(of: "${\(k)}", with: r.description) }
            if let open = text.range(of: "${") { throw SamdgError(place, "unknown variable in \"\(s)\" at \(text[open.lowerBound...])") }
            return .string(text)
        case .list(let a): return .list(try a.map { try substitute($0, env, place: place) })
        case .map(let m): return .map(try m.mapValues { try substitute($0, env, place: place) })
        default: return v
        }
    }
}
