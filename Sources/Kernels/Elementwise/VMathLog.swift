/// Vector logarithms on SIMD16<Float> (kept apart from `SIMDMath.swift`, whose functions other
/// kernels depend on bit for bit).
///
/// log: x = 2ᵉ·m with m in [√½, √2), f = m − 1, s = f/(2 + f), log(1 + f) = 2·atanh(s) =
/// 2s·(1 + s²/3 + s⁴/5 + …) to s¹⁴ (|s| ≤ 0.172: truncation < 1e-12); e·ln 2 is added in two
/// parts (Cody–Waite). Zero gives −∞, negatives and NaN give NaN, +∞ gives +∞; subnormals are
/// scaled by 2²⁴ first. Relative error ≈ 1 ulp.
/// log1p: Goldberg's correction log1p(u) = log(w)·u/(w − 1) with w = 1 + u rounded, exact to a
/// few ulp even where w − 1 loses digits (and u itself where w rounds to 1).
/// softplus: max(x, 0) + log1p(e^−|x|), never overflowing.
extension VMath {
    @inline(__always) public static func log(_ x0: V) -> V {
        let tiny = x0 .< 1.175_494_35e-38
        let x = x0.replacing(with: x0 * 16_777_216, where: tiny)
        let b = bits(x)
        // the biased exponent (0…255) as a float, through the 2²³ bit trick (Swift's SIMD
        // Int→Float conversion is a scalar loop)
        var e = fromBits((b &>> 23) | 0x4b00_0000) - (8_388_608 + 127)
        e = e.replacing(with: e - 24, where: tiny)
        var m = fromBits((b & 0x007f_ffff) | 0x3f80_0000)
        let big = m .> 1.414_213_56
        m = m.replacing(with: m * 0.5, where: big)
        e = e.replacing(with: e + 1, where: big)
        let f = m - 1
        let s = f / (2 + f)
        let s2 = s * s
        var p = V(repeating: 1.0 / 13)
        p = p * s2 + 1.0 / 11
        p = p * s2 + 1.0 / 9
        p = p * s2 + 1.0 / 7
        p = p * s2 + 1.0 / 5
        p = p * s2 + 1.0 / 3
        let logm = 2 * s + 2 * s * s2 * p
        var r = e * 0.693_359_375 + (logm + e * -2.121_944_4e-4)
        r = r.replacing(with: -.infinity, where: x0 .== 0)
        r = r.replacing(with: .nan, where: x0 .< 0 .| (x0 .!= x0))
        r = r.replacing(with: .infinity, where: x0 .== .infinity)
        return r
    }

    @inline(__always) public static func log1p(_ u: V) -> V {
        let w = 1 + u
        let d = w - 1
        let r = log(w) * (u / d)
        return r.replacing(with: u, where: d .== 0)
    }

    @inline(__always) public static func softplus(_ x: V) -> V {
        maximum(x, V(repeating: 0)) + log1p(exp(-abs(x)))
    }
}
