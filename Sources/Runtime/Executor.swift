import Foundation
import Kernels
import Tensor

/// Runs a `Plan`: binds named tensors, runs the steps in order and recycles buffers.
///
/// Buffers: results the compiler planned live in one arena at fixed offsets (see the Compiler's
/// `MemoryPlanner`); any other result takes a buffer of the same size from the free pool when one is there
/// (no zero fill: every kernel writes its whole result). A buffer returns to the pool when the
/// last slot that references it (a `reshape` result is a view sharing its operand's buffer) has
/// been released. Output buffers are handed to the caller; at the next run, those the caller no
/// longer holds (uniquely referenced by the executor) return to the pool, so results stay valid
/// as long as they are kept. The pool lives as long as the executor: a plan is planned once and
/// run many times.
public final class Executor {
    public let plan: Plan
    /// Accumulated seconds and calls per step index (when profiling).
    public private(set) var stepTimes: [Double]
    public private(set) var stepCalls: [Int]
    /// The fastest single run of each step so far (when profiling): on a shared machine, the sum
    /// of these is closer to the unloaded time than a mean.
    public private(set) var stepMin: [Double]
    public var profiling = false
    private var pool: [Int: [Storage]] = [:]
    /// The planned arena (allocated on first run, reused by every run).
    private var arena: Storage?
    private var lastOutputs: [Storage] = []

    public init(_ plan: Plan) {
        self.plan = plan
        stepTimes = [Double](repeating: 0, count: plan.steps.count)
        stepCalls = [Int](repeating: 0, count: plan.steps.count)
        stepMin = [Double](repeating: .infinity, count: plan.steps.count)
    }

    /// The `top` slowest steps so far, one line each (kernel, seconds, calls, origin).
    public func profileReport(top: Int = 15) -> String {
        let total = stepTimes.reduce(0, +)
        let order = stepTimes.indices.sorted { stepTimes[$0] > stepTimes[$1] }.prefix(top)
        var s = String(format: "total %.3fs over %d steps\n", total, plan.steps.count)
        for i in order {
            let st = plan.steps[i]
            s += String(format: "%8.3fs %5.1f%%  %@  %@ -> %@  # %@\n", stepTimes[i], 100 * stepTimes[i] / max(total, 1e-12),
                        "\(st.kernel)" as NSString, st.args.map { ShapeMath.describe(plan.slotShapes[$0]) }.joined(separator: ", ") as NSString,
                        ShapeMath.describe(plan.slotShapes[st.out]) as NSString, st.origin as NSString)
        }
        return s
    }

    /// Bytes currently parked in the pool (for memory reports).
    public var pooledBytes: Int { pool.reduce(0) { $0 + $1.key * $1.value.count } }

    /// Runs the plan. `bindings` must hold every bound name with exactly its slot's shape.
    public func run(_ bindings: [String: Tensor]) throws -> [String: Tensor] {
        reclaimOutputs()
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
        var refs: [ObjectIdentifier: Int] = [:]   // live slots per executor-owned buffer
        var owned: [ObjectIdentifier: Storage] = [:]
        for (i, step) in plan.steps.enumerated() {
            let args = step.args.map { slots[$0]! }
            let shape = plan.slotShapes[step.out]
            let out: Tensor
            if case .reshape = step.kernel {
                out = args[0].reshaped(shape)
            } else {
                let bytes = ShapeMath.count(shape) * 4
                let storage: Storage
                if step.out < plan.arenaOffsets.count, let off = plan.arenaOffsets[step.out] {
                    // planned: a slice of the arena (never pooled, never handed out)
                    if arena == nil { arena = Storage(byteCount: plan.arenaBytes, zeroed: false) }
                    storage = Storage(slice: arena!, offset: off, byteCount: bytes)
                } else {
                    if var free = pool[bytes], let s = free.popLast() {
                        pool[bytes] = free; storage = s
                    } else {
                        storage = Storage(byteCount: bytes, zeroed: false)
                    }
                    owned[ObjectIdentifier(storage)] = storage
                }
                out = Tensor(shape: shape, dtype: .float32, storage: storage)
                if profiling {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    step.kernel.run(args, out)
                    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                    stepTimes[i] += dt
                    stepMin[i] = min(stepMin[i], dt)
                    stepCalls[i] += 1
                } else {
                    step.kernel.run(args, out)
                }
            }
            slots[step.out] = out
            let id = ObjectIdentifier(out.storage)
            if owned[id] != nil { refs[id, default: 0] += 1 }
            for r in step.release where !keep.contains(r) {
                guard let t = slots[r] else { continue }
                slots[r] = nil
                let rid = ObjectIdentifier(t.storage)
                guard let c = refs[rid] else { continue }
                if c <= 1 {
                    refs[rid] = nil
                    if let s = owned.removeValue(forKey: rid) { pool[s.byteCount, default: []].append(s) }
                } else { refs[rid] = c - 1 }
            }
        }
        var result: [String: Tensor] = [:]
        for (name, slot) in plan.outputs { result[name] = slots[slot]! }
        lastOutputs = plan.outputs.compactMap { owned[ObjectIdentifier(slots[$0.slot]!.storage)] }
        return result
    }

    /// Returns to the pool the previous run's output buffers that nobody else holds any more.
    private func reclaimOutputs() {
        var outs = lastOutputs
        lastOutputs = []
        var seen = Set<ObjectIdentifier>()
        while var s = outs.popLast() {
            guard seen.insert(ObjectIdentifier(s)).inserted else { continue }
            if isKnownUniquelyReferenced(&s) { pool[s.byteCount, default: []].append(s) }
        }
    }
}
