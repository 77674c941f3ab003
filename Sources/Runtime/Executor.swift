import Foundation
import Kernels
import Tensor

/// Runs a `Plan`: binds named tensors, allocates each result, runs the steps in order and frees
/// buffers after their last use. Optional per-step timing feeds the profiler.
public final class Executor {
    public let plan: Plan
    /// Accumulated seconds and calls per step index (when profiling).
    public private(set) var stepTimes: [Double]
    public private(set) var stepCalls: [Int]
    public var profiling = false

    public init(_ plan: Plan) {
        self.plan = plan
        stepTimes = [Double](repeating: 0, count: plan.steps.count)
        stepCalls = [Int](repeating: 0, count: plan.steps.count)
    }

    /// Runs the plan. `bindings` must hold every bound name with exactly its slot's shape.
    public func run(_ bindings: [String: Tensor]) throws -> [String: Tensor] {
        var slots = [Tensor?](repeating: nil, count: plan.slotShapes.count)
        for (name, slot) in plan.bindings {
            guard let t = bindings[name] else {
                throw SamdgError("run: binding \"\(name)\"", "missing; expected a tensor of shape \(ShapeMath.describe(plan.slotShapes[slot]))")
            }
            guard t.shape == plan.slotShapes[slot] else {
                throw SamdgError("run: binding \"\(name)\"", "shape \(ShapeMath.describe(t.shape)), expected \(ShapeMath.describe(plan.slotShapes[slot]))")
            }
            slots[slot] = t.toFloat32()
        }
        let keep = Set(plan.outputs.map(\.slot))
        for (i, step) in plan.steps.enumerated() {
            let args = step.args.map { slots[$0]! }
            let shape = plan.slotShapes[step.out]
            let out: Tensor
            if case .reshape = step.kernel {
                out = args[0].reshaped(shape)
            } else {
                out = Tensor(zeros: shape)
                if profiling {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    step.kernel.run(args, out)
                    stepTimes[i] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                    stepCalls[i] += 1
                } else {
                    step.kernel.run(args, out)
                }
            }
            slots[step.out] = out
            for r in step.release where !keep.contains(r) { slots[r] = nil }
        }
        var result: [String: Tensor] = [:]
        for (name, slot) in plan.outputs { result[name] = slots[slot]! }
        return result
    }
}
