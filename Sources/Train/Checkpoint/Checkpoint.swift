import Foundation
import Tensor

/// Everything needed to resume training: weights, optimizer (kind, hyper-parameters, state,
/// step count), progress counters, the fingerprint of the config that produced it, and free-form
/// string metadata. `save(to:)` / `load(path:)` keep it in one HDF5 file readable by h5py:
///
/// ```text
/// /                     attributes format="samdg-checkpoint", format_version=1, step, epoch, config_fingerprint
/// /weights/<key>        one dataset per parameter, named by its full PyTorch key ("enc.blocks.0.attn.qkv.weight")
/// /optimizer            attributes kind ("sgd" | "adam" | "adamw"), step_count, and one per hyper-parameter
/// /optimizer/state/<k>  one dataset per state tensor ("<param>.exp_avg", "<param>.momentum_buffer", …)
/// /metadata             one string attribute per metadata entry
/// ```
public struct Checkpoint {
    public var weights: [String: Tensor]
    /// nil for a weights-only checkpoint.
    public var optimizer: OptimizerSnapshot?
    /// Training steps taken so far.
    public var step: Int
    public var epoch: Int
    /// Identifies the configuration (model, data, hyper-parameters) the run was started with.
    public var configFingerprint: String
    public var metadata: [String: String]

    public init(weights: [String: Tensor], optimizer: OptimizerSnapshot? = nil, step: Int = 0, epoch: Int = 0,
                configFingerprint: String = "", metadata: [String: String] = [:]) {
        self.weights = weights
        self.optimizer = optimizer
        self.step = step
        self.epoch = epoch
        self.configFingerprint = configFingerprint
        self.metadata = metadata
    }
}

/// An optimizer's configuration and its state at one moment.
public struct OptimizerSnapshot {
    public var kind: OptimizerKind
    public var stepCount: Int
    /// Per-parameter state by "<param>.<key>", as `Optimizer.state` names it.
    public var state: [String: Tensor]

    public init(kind: OptimizerKind, stepCount: Int, state: [String: Tensor]) {
        self.kind = kind
        self.stepCount = stepCount
        self.state = state
    }

    /// A snapshot of `optimizer` (state tensors are copied, so later steps do not change it).
    public init(_ optimizer: Optimizer) throws {
        kind = try OptimizerKind(describing: optimizer)
        stepCount = optimizer.stepCount
        state = optimizer.state.mapValues { $0.copy() }
    }

    /// A new optimizer of this kind, holding (copies of) this state and step count.
    public func makeOptimizer() throws -> Optimizer {
        try validate(parameters: nil)
        let copies = state.mapValues { $0.copy() }
        switch kind {
        case let .sgd(lr, momentum, weightDecay):
            let sgd = SGD(lr: lr, momentum: momentum, weightDecay: weightDecay)
            try sgd.restore(state: copies, stepCount: stepCount)
            return sgd
        case let .adam(lr, beta1, beta2, eps, weightDecay, decoupled):
            let adam = Adam(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: decoupled)
            adam.restore(state: copies, stepCount: stepCount)
            return adam
        }
    }

    /// Checks that every state key is "<param>.<key>" with a key this optimizer keeps, holding
    /// finite float32 values, and, given the parameters, that the parameter exists with that shape.
    public func validate(parameters: [String: [Int]]?, place: String = "optimizer state") throws {
        guard stepCount >= 0 else { throw SamdgError(place, "step count \(stepCount) is negative") }
        if !state.isEmpty && stepCount == 0 {
            throw SamdgError(place, "has \(state.count) state tensors but step count 0 (expected state only after a step)")
        }
        for (key, t) in state {
            guard let suffix = kind.stateKeys.first(where: { key.hasSuffix(".\($0)") }) else {
                throw SamdgError("\(place) \"\(key)\"", "unexpected key for \(kind.name) (expected \"<param>.\(kind.stateKeys.joined(separator: "|"))\")")
            }
            guard t.dtype == .float32 else {
                throw SamdgError("\(place) \"\(key)\"", "dtype \(t.dtype) (expected float32)")
            }
            for v in t.floats where !v.isFinite {
                throw SamdgError("\(place) \"\(key)\"", "holds \(v) (expected finite values)")
            }
            guard let parameters else { continue }
            let param = String(key.dropLast(suffix.count + 1))
            guard let shape = parameters[param] else {
                throw SamdgError("\(place) \"\(key)\"", "belongs to parameter \"\(param)\", which is not among the trained parameters")
            }
            guard shape == t.shape else {
                throw SamdgError("\(place) \"\(key)\"", "shape \(ShapeMath.describe(t.shape)), parameter \"\(param)\" has \(ShapeMath.describe(shape))")
            }
        }
    }
}

/// The optimizers a checkpoint can record, with their hyper-parameters.
public enum OptimizerKind: Equatable, Sendable {
    case sgd(lr: Float, momentum: Float, weightDecay: Float)
    case adam(lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool)

    public init(describing optimizer: Optimizer) throws {
        switch optimizer {
        case let o as SGD:
            self = .sgd(lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay)
        case let o as Adam:
            self = .adam(lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, decoupled: o.decoupled)
        default:
            throw SamdgError("checkpoint", "cannot record optimizer \(type(of: optimizer)) (expected SGD or Adam)")
        }
    }

    /// "sgd", "adam" or "adamw" (Adam with decoupled weight decay).
    public var name: String {
        switch self {
        case .sgd: return "sgd"
        case let .adam(_, _, _, _, _, decoupled): return decoupled ? "adamw" : "adam"
        }
    }

    /// The state keys per parameter ("<param>.<key>").
    public var stateKeys: [String] {
        switch self {
        case .sgd: return ["momentum_buffer"]
        case .adam: return ["exp_avg", "exp_avg_sq"]
        }
    }

    /// Hyper-parameters by PyTorch's names (Float values widen exactly to Double).
    public var hyperParameters: [String: Double] {
        switch self {
        case let .sgd(lr, momentum, weightDecay):
            return ["lr": Double(lr), "momentum": Double(momentum), "weight_decay": Double(weightDecay)]
        case let .adam(lr, beta1, beta2, eps, weightDecay, _):
            return ["lr": Double(lr), "beta1": Double(beta1), "beta2": Double(beta2), "eps": Double(eps),
                    "weight_decay": Double(weightDecay)]
        }
    }

    /// The kind named `name` with hyper-parameters looked up by `value` (which throws for a missing one).
    public init(name: String, place: String, value: (String) throws -> Double) throws {
        func f(_ key: String) throws -> Float { Float(try value(key)) }
        switch name {
        case "sgd":
            self = .sgd(lr: try f("lr"), momentum: try f("momentum"), weightDecay: try f("weight_decay"))
        case "adam", "adamw":
            self = .adam(lr: try f("lr"), beta1: try f("beta1"), beta2: try f("beta2"), eps: try f("eps"),
                         weightDecay: try f("weight_decay"), decoupled: name == "adamw")
        default:
            throw SamdgError(place, "unknown optimizer kind \"\(name)\" (expected sgd, adam or adamw)")
        }
    }
}
