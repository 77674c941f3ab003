import Foundation
import Kernels
import Tensor

/// An optimizer updates parameters in place from their gradients (PyTorch semantics).
public protocol Optimizer: AnyObject {
    /// Applies one step to `params[i]` with `grads[i]`.
    func step(_ params: [(name: String, value: Tensor)], _ grads: [Tensor]) throws
    /// Per-parameter state tensors by "name.key" (for checkpoints).
    var state: [String: Tensor] { get }
    var stepCount: Int { get }
}

/// Checks that a gradient matches its parameter and is finite; a NaN loss surfaces here.
func checkGradient(_ name: String, _ p: Tensor, _ g: Tensor) throws {
    guard p.shape == g.shape else {
        throw SamdgError("optimizer: \(name)", "gradient shape \(ShapeMath.describe(g.shape)) differs from parameter \(ShapeMath.describe(p.shape))")
    }
    if OptimizerKernels.allFinite(g.floats) { return }
    for v in g.floats where !v.isFinite {
        throw SamdgError("optimizer: \(name)", "gradient holds \(v); expected finite values (check the loss for NaN/inf)")
    }
}

/// `torch.optim.SGD(lr, momentum, weight_decay, nesterov=False, dampening=0)`.
public final class SGD: Optimizer {
    public let lr, momentum, weightDecay: Float
    public private(set) var state: [String: Tensor] = [:]
    public private(set) var stepCount = 0
    public init(lr: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.lr = lr; self.momentum = momentum; self.weightDecay = weightDecay
    }
    /// Restores state saved from `state` (checkpoint resume): "<param>.momentum_buffer" tensors.
    public func restore(state s: [String: Tensor], stepCount n: Int) throws {
        for (k, t) in s where !k.hasSuffix(".momentum_buffer") || t.dtype != .float32 {
            throw SamdgError("SGD.restore \"\(k)\"", "expected a float32 \"<param>.momentum_buffer\" tensor")
        }
        if !s.isEmpty && momentum == 0 {
            throw SamdgError("SGD.restore", "\(s.count) state tensors given, but momentum is 0 (SGD keeps no state then)")
        }
        guard n >= 0 else { throw SamdgError("SGD.restore", "step count \(n) is negative") }
        state = s.mapValues { $0.copy() }
        stepCount = n
    }

    public func step(_ params: [(name: String, value: Tensor)], _ grads: [Tensor]) throws {
        for ((name, p), g) in zip(params, grads) { try checkGradient(name, p, g) }   // all before any update
        for ((name, p), g) in zip(params, grads) {
            let pp = p.floats, gg = g.floats
            let buf = state["\(name).momentum_buffer"]
            let first = buf == nil
            let b = buf ?? Tensor(zeros: p.shape)
            let bb = b.floats
            for i in 0..<pp.count {
                var d = gg[i] + weightDecay * pp[i]
                if momentum != 0 {
                    bb[i] = first ? d : momentum * bb[i] + d
                    d = bb[i]
                }
                pp[i] -= lr * d
            }
            if momentum != 0 { state["\(name).momentum_buffer"] = b }
        }
        stepCount += 1
    }
}

/// `torch.optim.Adam` (L2 weight decay added to the gradient) and, with `decoupled`,
/// `torch.optim.AdamW` (the parameter decays by lr·wd before the update).
public final class Adam: Optimizer {
    public let lr, beta1, beta2, eps, weightDecay: Float
    public let decoupled: Bool
    public private(set) var state: [String: Tensor] = [:]
    public private(set) var stepCount = 0

    public init(lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        self.weightDecay = weightDecay; self.decoupled = decoupled
    }

    /// AdamW with PyTorch's default weight decay of 0.01.
    public static func adamW(lr: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                             weightDecay: Float = 0.01) -> Adam {
        Adam(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: true)
    }

    /// Restores state saved from `state` (checkpoint resume).
    public func restore(state s: [String: Tensor], stepCount n: Int) { state = s; stepCount = n }

    public func step(_ params: [(name: String, value: Tensor)], _ grads: [Tensor]) throws {
        // every gradient is checked before any parameter moves (or the step counts): a NaN in
        // the last one must not leave the others updated
        for ((name, p), g) in zip(params, grads) { try checkGradient(name, p, g) }
        stepCount += 1
        let t = Float(stepCount)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        var work: [(p: Tensor, g: Tensor, m: Tensor, v: Tensor)] = []
        for ((name, p), g) in zip(params, grads) {
            let m = state["\(name).exp_avg"] ?? Tensor(zeros: p.shape)
            let v = state["\(name).exp_avg_sq"] ?? Tensor(zeros: p.shape)
            state["\(name).exp_avg"] = m; state["\(name).exp_avg_sq"] = v
            work.append((p, g, m, v))
        }
        // per element: g += wd·p (Adam) or p *= 1 − lr·wd (AdamW); m = β1·m + (1 − β1)·g;
        // v = β2·v + (1 − β2)·g²; p −= stepSize·m / (√v / √bc2 + eps) — one SIMD pass, over
        // pieces of at most `Adam.piece` elements shared out to the worker threads (each element
        // is updated alone, so the split never changes a bit)
        var pieces: [(Int, Range<Int>)] = []
        for (i, w) in work.enumerated() {
            for lo in stride(from: 0, to: w.p.count, by: Adam.piece) { pieces.append((i, lo..<min(w.p.count, lo + Adam.piece))) }
        }
        let (lr, beta1, beta2, eps, weightDecay, decoupled) = (lr, beta1, beta2, eps, weightDecay, decoupled)
        Parallel.forTasks(pieces.count) { t, _ in
            let (i, r) = pieces[t]
            let w = work[i]
            func part(_ x: Tensor) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: x.floats[r]) }
            OptimizerKernels.adam(p: part(w.p), g: part(w.g), m: part(w.m), v: part(w.v), lr: lr, beta1: beta1, beta2: beta2,
                                  eps: eps, weightDecay: weightDecay, decoupled: decoupled,
                                  stepSize: stepSize, bc2Sqrt: bc2Sqrt)
        }
    }

    /// Elements per optimizer task (256 KiB of each of p, g, m and v).
    static let piece = 1 << 16
}
