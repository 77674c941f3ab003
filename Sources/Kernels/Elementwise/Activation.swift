import CSIMD
import Primitives

/// GELU (erf) as a function of its own for the loops that apply it after a convolution
/// (`ChannelEpilogue.affineGelu`) or over a whole tensor (`UnaryKernels.apply`): called through `UnaryKernels.forward`, whose switch inlines
/// every function's vector form, the optimizer leaves `VMath.erf` (and in bigger callers
/// `forward` itself) as out-of-line calls, one per 16 values with the vectors passed through
/// memory; this one is transparent, so erf's polynomial lands in the caller's loop. `forward`
/// uses it too: one formula.
extension UnaryKernels {
    /// 0.5·x·(1 + erf(x/√2)), lane-wise (transparent: inlined even where the optimizer's size
    /// limits would keep an `@inline(__always)` call).
    ///
    /// `VMath.erf`'s rational fit u·P(u²)/Q(u²) at u = x/√2, with the 1/√2 and the ½ folded into
    /// the coefficients: gelu(x) = ½x + x·x̂·P̃(x̂²)/Q̃(x̂²), x̂ = x clamped to ±3.92·√2,
    /// P̃ᵢ = Pᵢ·2⁻ⁱ·½/√2, Q̃ᵢ = Qᵢ·2⁻ⁱ (rounded to Float from Double). Three fewer vector ops per
    /// 16 values than ½x(1 + erf(x·(1/√2))) (no scaling of x, no 1 + erf, one product fewer);
    /// the same error bound (`KernelParityTests`, `GeluLoopTests` against Double).
    @_transparent
    static func geluErf(_ x: V) -> V {
        let xc = VMath.minimum(VMath.maximum(x, V(repeating: -5.543_717_2)), V(repeating: 5.543_717_2))
        let t = xc * xc
        @inline(__always) func step(_ acc: V, _ c: Float) -> V { V(repeating: c).addingProduct(acc, t) }
        var p = V(repeating: 1.100_669_05e-10)
        p = step(p, -2.163_102_84e-8)
        p = step(p, 3.134_403_28e-6)
        p = step(p, 1.635_834_84e-4)
        p = step(p, 4.470_054_89e-3)
        p = step(p, 3.534_143_91e-2)
        p = step(p, 0.398_942_257)
        var q = V(repeating: 5.975_030_19e-5)
        q = step(q, 1.794_115_87e-3)
        q = step(q, 2.874_927_4e-2)
        q = step(q, 0.255_253_675)
        q = step(q, 1)
        return (0.5 * x).addingProduct(x * xc, p / q)
    }

    /// y[r] = gelu(x[r]) (x may be y), streaming the stores when asked, as `apply` does. The
    /// loops are `writeLoop`'s written out, each vector loop in a function of its own: through
    /// `writeLoop`'s closure, or with two loops in one function, the vector body stays a call.
    static func geluLoop(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Range<Int>, stream: Bool) {
        var i = r.lowerBound
        let end = r.upperBound
        func one(_ i: Int) { y[i] = Float(UnaryFn.geluErf.reference(Double(x[i]))) }
        if stream {
            while i < end && Int(bitPattern: y + i) & 63 != 0 { one(i); i += 1 }
            let body = (end - i) / 16 * 16
            geluStreaming(x + i, y + i, body)
            i += body
        } else {
            let body = (end - i) / 16 * 16
            geluStored(x + i, y + i, body)
            i += body
        }
        while i < end { one(i); i += 1 }
    }

    /// y[0..<n] = gelu(x[0..<n]) with non-temporal stores; n a multiple of 16, y 64-byte aligned.
    @inline(never)
    static func geluStreaming(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in stride(from: 0, to: n, by: 16) { samdg_stream16(y + i, unsafeBitCast(geluErf(load16(x + i)), to: samdg_float16.self)) }
        samdg_store_fence()
    }

    /// Single-threaded `geluStored` (for measurements).
    public static func geluRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { geluStored(x, y, n) }

    /// y[0..<n] = gelu(x[0..<n]); n a multiple of 16.
    @inline(never)
    static func geluStored(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in stride(from: 0, to: n, by: 16) { store16(geluErf(load16(x + i)), y + i) }
    }
}
