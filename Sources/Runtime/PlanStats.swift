import Kernels
import Tensor

/// Static costs of a plan: FLOPs (2 per multiply-add of the contractions), bytes each step reads
/// and writes, and memory: the naive sum of every result buffer against the peak of what is live
/// at once under the plan's release schedule.
extension Plan {
    public func flops(_ i: Int) -> Double {
        let s = steps[i]
        let out = Double(ShapeMath.count(slotShapes[s.out]))
        switch s.kernel {
        case .matmul(let ta, _), .matmulAccumulate(let ta, _, _, _):
            let a = slotShapes[s.args[0]]
            return 2 * out * Double(ta ? a[a.count - 2] : a[a.count - 1])
        case .matmulView(let ta, _, let va, _, _):
            let a = va?.shape ?? slotShapes[s.args[0]]
            return 2 * out * Double(ta ? a[a.count - 2] : a[a.count - 1])
        case .attention:
            // the two products q·kᵀ and P·v: 2·N·M·(d + dv) per batch item
            let q = slotShapes[s.args[0]], k = slotShapes[s.args[1]]
            return 2 * Double(ShapeMath.count(Array(q.dropLast()))) * Double(k[k.count - 2])
                * Double(q[q.count - 1] + slotShapes[s.args[2]].last!)
        case .attentionStrided(let a):
            return 2 * Double(a.batch * a.n) * Double(a.m) * Double(a.d + a.dv)
        case .windowAttention(let w):
            // the image's queries against every window token, per head
            let q = slotShapes[s.args[0]]
            return 2 * Double(q[0] * q[1] * q[2] * w.heads) * Double(w.tokens) * Double(w.d + w.dv)
        case .conv2d, .conv2dEpilogue, .depthwiseTokens:
            let w = slotShapes[s.args[1]]
            return 2 * out * Double(w[1] * w[2] * w[3])
        case .convChain:
            // expand + depthwise + project, as the three unfused convolutions count them
            let x = slotShapes[s.args[0]], w1 = slotShapes[s.args[1]], w2 = slotShapes[s.args[2]]
            let y = slotShapes[s.out], plane = Double(y[0] * y[2] * y[3])
            return 2 * Double(x[0] * x[2] * x[3]) * Double(w1[0] * w1[1]) + 2 * plane * Double(w2[0] * w2[2] * w2[3])
                + 2 * out * Double(w1[0])
        case .conv2dBackwardInput:
            let w = slotShapes[s.args[1]]
            return 2 * Double(ShapeMath.count(slotShapes[s.args[0]])) * Double(w[1] * w[2] * w[3])
        case .conv2dBackwardWeight:
            let w = slotShapes[s.out]
            return 2 * Double(ShapeMath.count(slotShapes[s.args[1]])) * Double(w[1] * w[2] * w[3])
        default:
            return 0
        }
    }

    public var totalFLOPs: Double { steps.indices.reduce(0) { $0 + flops($1) } }

    /// Bytes read (operands) plus written (result) by step i; reshape views move nothing.
    public func bytesMoved(_ i: Int) -> Double {
        let s = steps[i]
        if case .reshape = s.kernel { return 0 }
        return 4 * Double(s.args.reduce(ShapeMath.count(slotShapes[s.out])) { $0 + ShapeMath.count(slotShapes[$1]) })
    }

    /// (naive, peak) bytes of step results — peak as the liveness bound; `arenaBytes` is what the
    /// planner's arena actually takes: naive = every result kept; peak = most bytes live at
    /// once when each buffer is freed after its last reader (reshape views share their operand's).
    public var memory: (naive: Int, peak: Int) {
        var naive = 0, live = 0, peak = 0
        var size = [Int](repeating: 0, count: slotShapes.count)
        let keep = Set(outputs.map(\.slot))
        for s in steps {
            if case .reshape = s.kernel { } else {
                size[s.out] = 4 * ShapeMath.count(slotShapes[s.out])
                naive += size[s.out]; live += size[s.out]; peak = max(peak, live)
            }
            for r in s.release where !keep.contains(r) { live -= size[r]; size[r] = 0 }
        }
        return (naive, peak)
    }
}
