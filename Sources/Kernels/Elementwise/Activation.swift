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
    @_transparent
    static func geluErf(_ x: V) -> V { 0.5 * x * (1 + VMath.erf(x * 0.707_106_781_186_547_5)) }

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

    /// y[0..<n] = gelu(x[0..<n]); n a multiple of 16.
    @inline(never)
    static func geluStored(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in stride(from: 0, to: n, by: 16) { store16(geluErf(load16(x + i)), y + i) }
    }
}
