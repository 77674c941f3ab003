/// SIMD loops of the optimizers: one pass over a parameter and its state, 16 lanes at a time,
/// with per-lane arithmetic in exactly the order of the scalar formulas (no FMA contraction),
/// so results are bit-identical to the scalar loops they replace.
enum OptimizerKernels {
    typealias V = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Whether every value is finite: x·0 is 0 for finite x and NaN for ±inf and NaN.
    static func allFinite(_ x: UnsafeMutableBufferPointer<Float>) -> Bool {
        guard let base = x.baseAddress else { return true }
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= x.count { acc = acc + load(base + i) * 0; i += 16 }
        var s: Float = 0
        for k in 0..<16 { s += acc[k] }
        while i < x.count { s += x[i] * 0; i += 1 }
        return s == 0
    }

    /// Adam / AdamW update of one parameter in place (see `Adam.step` for the formulas).
    static func adam(p: UnsafeMutableBufferPointer<Float>, g: UnsafeMutableBufferPointer<Float>,
                     m: UnsafeMutableBufferPointer<Float>, v: UnsafeMutableBufferPointer<Float>,
                     lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool,
                     stepSize: Float, bc2Sqrt: Float) {
        let n = p.count
        guard n > 0, let pp = p.baseAddress, let gg = g.baseAddress, let mm = m.baseAddress, let vv = v.baseAddress else { return }
        let decay = 1 - lr * weightDecay, c1 = 1 - beta1, c2 = 1 - beta2
        @inline(__always) func lane<T: SIMD>(_ pi: T, _ gi0: T, _ mi0: T, _ vi0: T) -> (T, T, T) where T.Scalar == Float {
            var gi = gi0, pi = pi
            if decoupled { pi *= T(repeating: decay) } else { gi += T(repeating: weightDecay) * pi }
            let mi = T(repeating: beta1) * mi0 + T(repeating: c1) * gi
            let vi = T(repeating: beta2) * vi0 + T(repeating: c2) * gi * gi
            let denom = vi.squareRoot() / T(repeating: bc2Sqrt) + T(repeating: eps)
            pi -= T(repeating: stepSize) * mi / denom
            return (pi, mi, vi)
        }
        var i = 0
        while i + 16 <= n {
            let (a, b, c) = lane(load(pp + i), load(gg + i), load(mm + i), load(vv + i))
            store(a, pp + i); store(b, mm + i); store(c, vv + i)
            i += 16
        }
        while i < n {
            let (a, b, c) = lane(SIMD2(pp[i], 0), SIMD2(gg[i], 0), SIMD2(mm[i], 0), SIMD2(vv[i], 0))
            pp[i] = a[0]; mm[i] = b[0]; vv[i] = c[0]
            i += 1
        }
    }
}
