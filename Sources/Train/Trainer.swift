import Graph
import Tensor

/// A training loop over one compiled training graph: forward, loss, gradients of the trainable
/// parameters, an optimizer step, and write-back of state outputs (BatchNorm running statistics).
/// Progress is reported as events to callbacks rather than printed, so callers decide what to show.
public final class Trainer {
    public enum Event {
        case stepEnded(step: Int, loss: Float)
    }

    public let session: Session
    public let optimizer: Optimizer
    public let trainable: [String]
    /// Current parameter (and buffer) values by name; updated in place.
    public private(set) var parameters: [String: Tensor]
    /// graph output name → parameter it replaces after each step (e.g. running statistics)
    public let stateUpdates: [String: String]
    public var callbacks: [(Event) -> Void] = []
    /// Steps taken (restored on resume, so it counts the whole run).
    public internal(set) var step = 0
    let lossName: String

    public init(graph: Graph, loss: String, parameters: [String: Tensor], trainable: [String],
                optimizer: Optimizer, stateUpdates: [String: String] = [:], fuse: Bool? = nil) throws {
        for (name, v) in graph.parameters {
            guard let t = parameters[name] else { throw SamdgError("trainer", "no value for parameter \"\(name)\" \(ShapeMath.describe(graph.shape(v)))") }
            guard t.shape == graph.shape(v) else {
                throw SamdgError("trainer: parameter \"\(name)\"", "shape \(ShapeMath.describe(t.shape)), graph expects \(ShapeMath.describe(graph.shape(v)))")
            }
        }
        session = try Session(graph, loss: loss, wrt: trainable, fuse: fuse)
        self.optimizer = optimizer
        self.trainable = trainable
        self.parameters = parameters.mapValues { $0.toFloat32().copy() }
        self.stateUpdates = stateUpdates
        lossName = loss
    }

    /// One optimisation step on a batch (graph inputs by name); returns the loss before the step.
    @discardableResult
    public func step(_ batch: [String: Tensor]) throws -> Float {
        var bind = parameters
        for (k, v) in batch { bind[k] = v }
        let out = try session.run(bind)
        let loss = out[lossName]!.floats[0]
        guard loss.isFinite else {
            throw SamdgError("trainer step \(step + 1)", "loss is \(loss); expected a finite value (learning rate too high, or bad input?)")
        }
        try optimizer.step(trainable.map { ($0, parameters[$0]!) }, trainable.map { out["grad.\($0)"]! })
        for (o, p) in stateUpdates {
            parameters[p]!.floats.baseAddress!.update(from: out[o]!.floats.baseAddress!, count: parameters[p]!.count)
        }
        step += 1
        for c in callbacks { c(.stepEnded(step: step, loss: loss)) }
        return loss
    }
}
