import Graph
import Tensor

/// Capturing a `Trainer` into a `Checkpoint` and resuming one from it.
///
/// A resumed trainer continues the run's step count, and the optimizer's own step count (which
/// Adam's bias correction uses) is restored exactly, so the updates continue bit for bit.
extension Checkpoint {
    /// A snapshot of `trainer`'s parameters (all of them, buffers included; copied) and optimizer.
    /// `step` defaults to `trainer.step`.
    public init(trainer: Trainer, step: Int? = nil, epoch: Int = 0, configFingerprint: String = "",
                metadata: [String: String] = [:]) throws {
        self.init(weights: trainer.parameters.mapValues { $0.copy() },
                  optimizer: try OptimizerSnapshot(trainer.optimizer),
                  step: step ?? trainer.step, epoch: epoch,
                  configFingerprint: configFingerprint, metadata: metadata)
    }
}

extension Trainer {
    /// A trainer for `graph` that continues from `checkpoint`: its parameters, and an optimizer
    /// of the recorded kind with the recorded state and step count. With `expectedFingerprint`,
    /// a checkpoint from another configuration is refused.
    public convenience init(resuming checkpoint: Checkpoint, graph: Graph, loss: String, trainable: [String],
                            stateUpdates: [String: String] = [:], expectedFingerprint: String? = nil) throws {
        if let expectedFingerprint, expectedFingerprint != checkpoint.configFingerprint {
            throw SamdgError("resume", "checkpoint config fingerprint \"\(checkpoint.configFingerprint)\" differs from this run's \"\(expectedFingerprint)\"")
        }
        guard let snapshot = checkpoint.optimizer else {
            throw SamdgError("resume", "the checkpoint holds no optimizer state (a weights-only checkpoint cannot resume training)")
        }
        for name in trainable where checkpoint.weights[name] == nil {
            throw SamdgError("resume", "trainable parameter \"\(name)\" is missing from the checkpoint")
        }
        let trainedShapes = Dictionary(uniqueKeysWithValues: trainable.map { ($0, checkpoint.weights[$0]!.shape) })
        try snapshot.validate(parameters: trainedShapes, place: "resume: optimizer state")
        try self.init(graph: graph, loss: loss, parameters: checkpoint.weights, trainable: trainable,
                      optimizer: try snapshot.makeOptimizer(), stateUpdates: stateUpdates)
        step = checkpoint.step
    }
}
