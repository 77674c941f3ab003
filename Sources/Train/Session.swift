import Foundation
import Compiler
import Graph
import Runtime
import Tensor

/// A compiled forward graph plus, optionally, its gradients with respect to chosen parameters:
/// the unit the training loop and `check-golden` run.
public final class Session {
    /// Debug switches, read once per process: `SAMDG_NO_FUSE` compiles unfused plans,
    /// `SAMDG_PROFILE` prints each run's per-step table to stderr.
    static let noFuse = ProcessInfo.processInfo.environment["SAMDG_NO_FUSE"] != nil
    static let profileEnv = ProcessInfo.processInfo.environment["SAMDG_PROFILE"] != nil

    public let graph: Graph
    public let executor: Executor
    /// Names of the gradient outputs, "grad.<name>", in `wrt` order.
    public let gradientNames: [String]

    /// `fuse` chooses fused plans (default: on unless `SAMDG_NO_FUSE` is set).
    /// Builds gradients of `loss` (a scalar output) or of Σ outputᵢ·cotangentᵢ when `cotangents`
    /// names an input per output, with respect to the named parameters or inputs in `wrt`.
    /// Fused sessions with gradients first rewrite the forward graph (`Compiler.prepareForAutodiff`);
    /// `graph` is then that rewritten graph (holding the gradient outputs), not the caller's.
    public init(_ graph: Graph, loss: String? = nil, cotangents: [String: String] = [:], wrt: [String] = [], fuse: Bool? = nil) throws {
        let fused = fuse ?? !Self.noFuse
        let graph = fused && !wrt.isEmpty ? try Compiler.prepareForAutodiff(graph) : graph
        self.graph = graph
        var names: [String] = []
        let forwardCount = graph.nodes.count
        if !wrt.isEmpty {
            var seeds: [(Value, Value)] = []
            if let loss {
                guard let l = graph.outputValue(loss) else { throw SamdgError("session", "no output named \"\(loss)\"") }
                seeds.append((l, graph.constant(1, graph.shape(l))))
            }
            for (out, ctName) in cotangents.sorted(by: { $0.key < $1.key }) {
                guard let o = graph.outputValue(out) else { throw SamdgError("session", "no output named \"\(out)\"") }
                let ct = graph.input(ctName, graph.shape(o))
                seeds.append((o, ct))
            }
            let targets = try wrt.map { n -> Value in
                guard let v = graph.parameterValue(n) ?? graph.inputValue(n) else {
                    throw SamdgError("session", "no parameter or input named \"\(n)\" to differentiate")
                }
                return v
            }
            let grads = try Autodiff.gradients(graph, seeds: seeds, wrt: targets)
            for (n, g) in zip(wrt, grads) {
                let gv = g ?? graph.constant(0, graph.shape(graph.parameterValue(n) ?? graph.inputValue(n)!))
                graph.output("grad.\(n)", gv)
                names.append("grad.\(n)")
            }
        }
        gradientNames = names
        // Training plans recompute cheap activations in backward instead of keeping them
        // (`Rematerialize`), unless unfused or `SAMDG_SKIP_FUSION` names it.
        let remat = fused && !wrt.isEmpty && !Compiler.disabledFusions.contains(Rematerialize.name)
        let rg = remat ? try Compiler.rematerialize(graph, forwardCount: forwardCount) : graph
        executor = Executor(try Compiler.compile(rg, fuse: fused, training: !wrt.isEmpty))
    }

    public func run(_ bindings: [String: Tensor]) throws -> [String: Tensor] {
        let profile = Self.profileEnv
        if profile { executor.profiling = true }
        let out = try executor.run(bindings)
        if profile { FileHandle.standardError.write(executor.profileReport().data(using: .utf8)!) }
        return out
    }
}
