import Foundation
import Tensor
import Yams

/// An experiment graph as declared in `graphs/*.yaml`:
///
/// ```yaml
/// experiment: demo
/// vars:   {data_root: ../shared/data}      # single values, referenced as $data_root or ${data_root}
/// sweep:  {source: [A, B]}                 # one stage instance per value, for stages that use it
/// stages:
///   data:    {kind: phantoms, params: {count: 40}}
///   segment: {kind: segment, inputs: [data], params: {source: $source, epochs: 10}}
///   box:     {kind: box, inputs: [segment], params: {theta1: 0.75}}
/// ```
///
/// A stage instance exists per combination of the sweep variables it uses, directly in its
/// parameters or through its inputs; `segment[source=A]` reads `data` and feeds `box[source=A]`.
public struct ExperimentSpec {
    public struct Stage {
        public let name: String
        public let kind: String
        /// As written: a stage name (all its outputs) or `stage.output` (just that one, so a
        /// change in the stage's other outputs does not invalidate this one).
        public let inputs: [String]
        /// The input stages, each once, in declaration order.
        public var inputStages: [String] {
            var seen = Set<String>()
            return inputs.map { String($0.prefix { $0 != "." }) }.filter { seen.insert($0).inserted }
        }
        /// stage → the outputs it reads, or nil when it reads all of them.
        public var inputFilter: [String: Set<String>?] {
            var out: [String: Set<String>?] = [:]
            for i in inputs {
                let st = String(i.prefix { $0 != "." })
                if i == st { out[st] = .some(nil); continue }
                let o = String(i.dropFirst(st.count + 1))
                if case .some(.some(var set)) = out[st] { set.insert(o); out[st] = .some(set) }
                else if out[st] == nil { out[st] = .some([o]) }
            }
            return out
        }
        /// Parameters as written (before `$var` substitution), plus command-line overrides.
        public var params: [String: ParamValue]
        public let place: String
    }

    public let name: String
    public let path: String
    public var vars: [String: ParamValue]
    public var sweep: [(name: String, values: [ParamValue])]
    public var stages: [Stage]

    public static func load(path: String) throws -> ExperimentSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SamdgError(path, "cannot read the experiment graph (no such file, or not readable)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw SamdgError(path, "not UTF-8 text") }
        return try parse(text: text, path: path)
    }

    public static func parse(text: String, path: String) throws -> ExperimentSpec {
        let root = try YAMLSpec.parse(text: text, place: path)
        var name: String?
        var vars: [String: ParamValue] = [:]
        var sweep: [(String, [ParamValue])] = []
        var stages: [Stage] = []
        for (key, node) in try YAMLSpec.pairs(root, place: path) {
            let place = YAMLSpec.at(node, "\(path): \(key)")
            switch key {
            case "experiment":
                guard let s = node.string, !s.isEmpty else { throw SamdgError(place, "expected the experiment's name") }
                name = s
            case "description": break
            case "vars":
                for (k, v) in try YAMLSpec.pairs(node, place: place) { vars[k] = try YAMLSpec.value(v, place: "\(place).\(k)") }
            case "sweep":
                for (k, v) in try YAMLSpec.pairs(node, place: place) {
                    guard case .list(let values) = try YAMLSpec.value(v, place: "\(place).\(k)"), !values.isEmpty else {
                        throw SamdgError(YAMLSpec.at(v, "\(place).\(k)"), "a sweep variable takes a non-empty list of values")
                    }
                    sweep.append((k, values))
                }
            case "stages":
                for (sname, snode) in try YAMLSpec.pairs(node, place: place) {
                    stages.append(try stage(sname, snode, place: YAMLSpec.at(snode, "\(path): stages.\(sname)")))
                }
            default:
                throw SamdgError(place, "unknown key; expected experiment, description, vars, sweep or stages")
            }
        }
        guard let name else { throw SamdgError(path, "missing key \"experiment\" (the experiment's name)") }
        guard !stages.isEmpty else { throw SamdgError(path, "no stages declared") }
        let spec = ExperimentSpec(name: name, path: path, vars: vars, sweep: sweep, stages: stages)
        try spec.validate()
        return spec
    }

    static func stage(_ name: String, _ node: Node, place: String) throws -> Stage {
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw SamdgError(place, "stage names use letters, digits, _ and - only")
        }
        var kind: String?
        var inputs: [String] = []
        var params: [String: ParamValue] = [:]
        for (key, v) in try YAMLSpec.pairs(node, place: place) {
            switch key {
            case "kind": kind = v.string
            case "inputs":
                guard case .list(let a) = try YAMLSpec.value(v, place: "\(place).inputs"), a.allSatisfy({ $0.stringValue != nil }) else {
                    throw SamdgError(YAMLSpec.at(v, "\(place).inputs"), "expected a list of stage names")
                }
                inputs = a.compactMap(\.stringValue)
            case "params":
                guard case .map(let m) = try YAMLSpec.value(v, place: "\(place).params") else {
                    throw SamdgError(YAMLSpec.at(v, "\(place).params"), "expected a mapping of parameters")
                }
                params = m
            default:
                throw SamdgError(YAMLSpec.at(v, "\(place).\(key)"), "unknown key; expected kind, inputs or params")
            }
        }
        guard let kind else { throw SamdgError(place, "missing \"kind\" (what the stage does)") }
        return Stage(name: name, kind: kind, inputs: inputs, params: params, place: place)
    }

    func validate() throws {
        var seen = Set<String>()
        for s in stages {
            for i in s.inputStages where !seen.contains(i) {
                throw SamdgError(s.place, stages.contains { $0.name == i }
                    ? "input \"\(i)\" is declared after this stage; declare stages in dependency order"
                    : "input \"\(i)\" is not a stage of this graph")
            }
            seen.insert(s.name)
        }
        let names = Set(sweep.map(\.name))
        for k in vars.keys where names.contains(k) { throw SamdgError(path, "\"\(k)\" is both a var and a sweep variable") }
    }

    public func stage(named n: String) -> Stage? { stages.first { $0.name == n } }

    /// Applies `STAGE.PARAM=VALUE` (or `vars.NAME=VALUE`) overrides; dotted PARAMs reach into maps.
    public mutating func apply(overrides: [String]) throws {
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { throw SamdgError("--set \(o)", "expected STAGE.PARAM=VALUE") }
            let lhs = String(o[..<eq]), rhs = String(o[o.index(after: eq)...])
            let path = lhs.split(separator: ".").map(String.init)
            guard path.count >= 2 else { throw SamdgError("--set \(o)", "expected STAGE.PARAM=VALUE") }
            let value = try ParamValue.parse(rhs, place: "--set \(o)")
            if path[0] == "vars" {
                guard path.count == 2 else { throw SamdgError("--set \(o)", "expected vars.NAME=VALUE") }
                vars[path[1]] = value
                continue
            }
            guard let i = stages.firstIndex(where: { $0.name == path[0] }) else {
                throw SamdgError("--set \(o)", "no stage \"\(path[0])\"; stages: \(stages.map(\.name).joined(separator: ", "))")
            }
            stages[i].params = Self.set(stages[i].params, Array(path.dropFirst()), value)
        }
    }

    static func set(_ m: [String: ParamValue], _ path: [String], _ v: ParamValue) -> [String: ParamValue] {
        var m = m
        if path.count == 1 { m[path[0]] = v; return m }
        m[path[0]] = .map(set(m[path[0]]?.mapValue ?? [:], Array(path.dropFirst()), v))
        return m
    }
}
