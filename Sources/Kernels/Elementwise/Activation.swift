import Primitives

/// GELU (erf) as a function of its own for the loops that apply it after a convolution
/// (`ChannelEpilogue.affineGelu`): called through `UnaryKernels.forward`, whose switch inlines
/// every function's vector form, the optimizer leaves `VMath.erf` (and in bigger callers
/// `forward` itself) as out-of-line calls, one per 16 values with the vectors passed through
/// memory; this one is transparent, so erf's polynomial lands in the caller's loop. `forward`
/// uses it too: one formula.
extension UnaryKernels {
    /// 0.5·x·(1 + erf(x/√2)), lane-wise (transparent: inlined even where the optimizer's size
    /// limits would keep an `@inline(__always)` call).
    @_transparent
    static func geluErf(_ x: V) -> V { 0.5 * x * (1 + VMath.erf(x * 0.707_106_781_186_547_5)) }
}
