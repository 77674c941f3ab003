import Graph
import Primitives
import Tensor

/// BatchNorm as a module: eval mode reads running statistics; train mode uses batch statistics
/// and exposes the updated running statistics as graph outputs named `<prefix>.running_mean.new`
/// and `.running_var.new`, which a trainer writes back after each step.
public enum NormMode: Sendable { case eval, train(momentum: Float) }

extension ModelBuilder {
    /// `nn.BatchNorm2d(c)` (affine, track_running_stats) under `name`.
    public func batchNorm(_ name: String, _ x: Value, _ c: Int, mode: NormMode, eps: Float = 1e-5) throws -> Value {
        try scope(name) {
            let w = param("weight", [c]), b = param("bias", [c])
            let rm = param("running_mean", [c]), rv = param("running_var", [c])
            switch mode {
            case .eval:
                return try graph.batchNormEval(x, weight: w, bias: b, runningMean: rm, runningVar: rv, eps: eps)
            case .train(let m):
                let r = try graph.batchNormTrain(x, weight: w, bias: b, runningMean: rm, runningVar: rv, momentum: m, eps: eps)
                graph.output(qualified("running_mean") + ".new", r.runningMean)
                graph.output(qualified("running_var") + ".new", r.runningVar)
                return r.y
            }
        }
    }

    /// Graph outputs holding updated running statistics → the parameter each replaces.
    public var runningStatUpdates: [String: String] {
        var u: [String: String] = [:]
        for (name, _) in graph.outputs where name.hasSuffix(".new") { u[name] = String(name.dropLast(4)) }
        return u
    }
}
