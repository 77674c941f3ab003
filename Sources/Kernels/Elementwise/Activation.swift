import Primitives

/// Activation loops that run after a GEMM or convolution over a block of its result (GEMM row
/// blocks, conv epilogues). GELU (erf) gets a loop of its own: inside `UnaryKernels.forward`,
/// whose switch inlines every function's vector form, the optimizer leaves `VMath.erf` (and in
/// bigger callers `forward` itself) as out-of-line calls, one per 16 lanes with the vectors
/// passed through memory; in a small function of its own, erf's polynomial is inlined into the
/// loop. The arithmetic is `UnaryKernels.geluErf`, the one `forward` uses.
extension UnaryKernels {
    /// 0.5·x·(1 + erf(x/√2)), lane-wise (transparent: inlined even where the optimizer's size
    /// limits would keep an `@inline(__always)` call).
    @_transparent
    static func geluErf(_ x: V) -> V { 0.5 * x * (1 + VMath.erf(x * 0.707_106_781_186_547_5)) }

    /// y[0..<n] = f(x[0..<n]) on the calling thread (x may be y).
    static func applyBlock(_ f: UnaryFn, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        if case .geluErf = f { geluLoop(x, y, n) } else { applySerial(f, x, y, count: n) }
    }

    @inline(never)
    static func geluLoop(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { store16(geluErf(load16(x + i)), y + i); i += 16 }
        if i < n {
            var v = V(repeating: 0)
            for l in 0..<(n - i) { v[l] = x[i + l] }
            let out = geluErf(v)
            for l in 0..<(n - i) { y[i + l] = out[l] }
        }
    }
}
