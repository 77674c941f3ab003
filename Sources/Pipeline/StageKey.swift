import Foundation

/// What a stage run depends on, and nothing else (never mtimes or paths of the store): its kind
/// and code version, the engine version, its parameters after substitution, the digests of its
/// input artifacts and of any external files it reads. The fingerprint is the SHA-256 of its
/// canonical JSON, so equal keys mean equal results and the store can answer instead of the stage.
public struct StageKey: Codable, Equatable {
    public var kind: String
    public var code: String
    public var engine: String
    public var params: [String: ParamValue]
    /// "stage.output" → digest
    public var inputs: [String: String]
    /// external file or folder label → digest
    public var external: [String: String]

    public var canonical: String {
        func strings(_ m: [String: String]) -> String {
            "{" + m.keys.sorted().map { ParamValue.quote($0) + ":" + ParamValue.quote(m[$0]!) }.joined(separator: ",") + "}"
        }
        return "{\"code\":\(ParamValue.quote(code)),\"engine\":\(ParamValue.quote(engine)),\"external\":\(strings(external)),"
            + "\"inputs\":\(strings(inputs)),\"kind\":\(ParamValue.quote(kind)),\"params\":\(ParamValue.map(params).canonicalJSON)}"
    }

    public init(kind: String, code: String, engine: String, params: [String: ParamValue],
                inputs: [String: String], external: [String: String]) {
        self.kind = kind; self.code = code; self.engine = engine
        self.params = params; self.inputs = inputs; self.external = external
    }

    public var fingerprint: String { Digest.of(canonical) }

    /// What differs from an earlier key, one line per part, most fundamental first.
    public func changes(since old: StageKey) -> [String] {
        var out: [String] = []
        if kind != old.kind { out.append("kind: \(old.kind) → \(kind)") }
        if code != old.code { out.append("code version: \(old.code) → \(code)") }
        if engine != old.engine { out.append("engine version: \(old.engine) → \(engine)") }
        for k in Set(params.keys).union(old.params.keys).sorted() where params[k] != old.params[k] {
            out.append("param \(k): \(old.params[k]?.canonicalJSON ?? "(unset)") → \(params[k]?.canonicalJSON ?? "(unset)")")
        }
        for k in Set(inputs.keys).union(old.inputs.keys).sorted() where inputs[k] != old.inputs[k] {
            out.append("input \(k): \(short(old.inputs[k])) → \(short(inputs[k]))")
        }
        for k in Set(external.keys).union(old.external.keys).sorted() where external[k] != old.external[k] {
            out.append("external data \(k): \(short(old.external[k])) → \(short(external[k]))")
        }
        return out
    }

    func short(_ d: String?) -> String { d.map { String($0.prefix(12)) } ?? "(none)" }
}
