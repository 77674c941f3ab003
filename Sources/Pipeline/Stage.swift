import Foundation
import Tensor

/// What a kind of stage does. Implementations live outside this module (SAMMed's segment, box,
/// refine, report); the runner only sees files in and files out.
public protocol StageRunner {
    /// The `kind:` this runner handles in experiment graphs.
    var kind: String { get }
    /// Code version: change it whenever the stage's results would change for the same key.
    var version: String { get }
    /// Digests of external files the stage reads (folders of images, user checkpoints), by label.
    func externalInputs(_ params: StageParams) throws -> [String: String]
    /// Does the work: reads `context.inputs`, writes each output file into `context.outputDir`
    /// and returns output name → file name. May keep resumable state in `context.workDir`.
    func run(_ context: StageContext) throws -> [String: String]
}

extension StageRunner {
    public func externalInputs(_ params: StageParams) throws -> [String: String] { [:] }
}

/// Typed access to an instance's parameters; errors name the stage and the parameter.
public struct StageParams {
    public let instance: String
    public let values: [String: ParamValue]

    public init(instance: String, values: [String: ParamValue]) { self.instance = instance; self.values = values }

    func fail(_ k: String, _ expected: String) -> SamdgError {
        SamdgError("stage \(instance): param \(k)", "expected \(expected), got \(values[k]?.canonicalJSON ?? "nothing")")
    }
    public func has(_ k: String) -> Bool { values[k] != nil && values[k] != .null }
    public func double(_ k: String, _ d: Double? = nil) throws -> Double {
        guard let v = values[k] else { if let d { return d }; throw fail(k, "a number") }
        guard let x = v.doubleValue else { throw fail(k, "a number") }
        return x
    }
    public func int(_ k: String, _ d: Int? = nil) throws -> Int {
        guard let v = values[k] else { if let d { return d }; throw fail(k, "an integer") }
        guard let x = v.intValue else { throw fail(k, "an integer") }
        return x
    }
    public func string(_ k: String, _ d: String? = nil) throws -> String {
        guard let v = values[k] else { if let d { return d }; throw fail(k, "a string") }
        guard let x = v.stringValue else { throw fail(k, "a string") }
        return x
    }
    public func bool(_ k: String, _ d: Bool? = nil) throws -> Bool {
        guard let v = values[k] else { if let d { return d }; throw fail(k, "true or false") }
        guard let x = v.boolValue else { throw fail(k, "true or false") }
        return x
    }
    public func strings(_ k: String, _ d: [String]? = nil) throws -> [String] {
        guard let v = values[k] else { if let d { return d }; throw fail(k, "a list of strings") }
        if let s = v.stringValue { return [s] }
        guard let a = v.listValue?.compactMap(\.stringValue), a.count == v.listValue?.count else { throw fail(k, "a list of strings") }
        return a
    }
    public func oneOf(_ k: String, _ choices: [String], _ d: String) throws -> String {
        let s = try string(k, d)
        guard choices.contains(s) else { throw fail(k, "one of \(choices.joined(separator: ", "))") }
        return s
    }
}

/// What a running stage sees.
public struct StageContext {
    public let instance: String
    public let params: StageParams
    /// upstream stage name → output name → path of the (read-only) artifact
    public let inputs: [String: [String: String]]
    /// Fresh folder for this run's outputs.
    public let outputDir: String
    /// Survives kills; keyed by the fingerprint, so a rerun of the same key resumes from it.
    public let workDir: String
    public let log: (String) -> Void

    public func input(_ stage: String, _ output: String) throws -> String {
        guard let s = inputs[stage] else {
            throw SamdgError("stage \(instance)", "needs the stage \"\(stage)\" as an input; declared inputs: \(inputs.keys.sorted().joined(separator: ", "))")
        }
        guard let p = s[output] else {
            throw SamdgError("stage \(instance)", "input \"\(stage)\" has no output \"\(output)\"; it has \(s.keys.sorted().joined(separator: ", "))")
        }
        return p
    }

    /// Outputs of every input stage whose name starts with `prefix` (e.g. "domain."), by stage.
    public func inputs(prefixed prefix: String) -> [(stage: String, output: String, path: String)] {
        inputs.keys.sorted().flatMap { s in
            inputs[s]!.keys.sorted().filter { $0.hasPrefix(prefix) }.map { (s, $0, inputs[s]![$0]!) }
        }
    }
}
