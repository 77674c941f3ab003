import Foundation

/// Vector sine and cosine on SIMD16<Float> (SAM's prompt encoder evaluates both on its 64×64×128
/// positional-encoding grid every training step; through the scalar Double reference that was
/// two 5 ms passes).
///
/// Algorithm (Cephes' sinf/cosf, reduced by quadrant): j = round(x·2/π) through the 1.5·2²³
/// trick, so the quadrant j mod 4 is read from the low mantissa bits; r = x − j·π/2 with π/2 in
/// three parts (Cody–Waite: 1.5703125 has 8 significant bits, so j·1.5703125 is exact for
/// |j| < 2¹⁵ and the first subtraction is exact); |r| ≤ π/4. Then sin r = r + r³·P(r²) and
/// cos r = 1 − r²/2 + r⁴·Q(r²) (minimax, ≈ 1 ulp on [−π/4, π/4]), and by quadrant
///
/// ```
///   j mod 4 :    0        1        2        3
///   sin x   :  sin r    cos r   −sin r   −cos r
///   cos x   :  cos r   −sin r   −cos r    sin r
/// ```
///
/// Absolute error ≈ 1e-7 for |x| ≤ 8192; vectors with a lane beyond that (where the
/// three-part reduction runs out of bits) go lane by lane through Foundation's Double sin / cos.
/// ±∞ and NaN give NaN.
extension VMath {
    static func lanewise(_ x: V, _ f: (Double) -> Double) -> V {
        var y = x
        for l in 0..<16 where !x[l].isNaN { y[l] = Float(f(Double(x[l]))) }
        return y
    }

    /// (sin r, cos r, j mod 4) for x = j·π/2 + r.
    @inline(__always) static func reduceQuadrant(_ x: V) -> (s: V, c: V, q: SIMD16<UInt32>) {
        let magic = V(repeating: 12_582_912)
        let t = x * 0.636_619_772_367_581_3 + magic
        let j = t - magic
        var r = x - j * 1.570_312_5
        r = r - j * 4.837_512_969_970_703_125e-4
        r = r - j * 7.549_789_954_891_882e-8
        let z = r * r
        var p = V(repeating: -1.951_529_589_1e-4)
        p = p * z + 8.332_160_873_6e-3
        p = p * z - 1.666_665_461_1e-1
        let s = r + r * z * p
        var q = V(repeating: 2.443_315_711_809_948e-5)
        q = q * z - 1.388_731_625_493_765e-3
        q = q * z + 4.166_664_568_298_827e-2
        let c = 1 - 0.5 * z + z * z * q
        return (s, c, bits(t) & 3)
    }

    @inline(__always) public static func sin(_ x: V) -> V {
        if any(abs(x) .> 8192) { return lanewise(x) { Foundation.sin($0) } }
        let (s, c, q) = reduceQuadrant(x)
        let v = s.replacing(with: c, where: (q & 1) .== 1)
        return v.replacing(with: -v, where: (q & 2) .== 2)
    }

    @inline(__always) public static func cos(_ x: V) -> V {
        if any(abs(x) .> 8192) { return lanewise(x) { Foundation.cos($0) } }
        let (s, c, q) = reduceQuadrant(x)
        let v = c.replacing(with: s, where: (q & 1) .== 1)
        return v.replacing(with: -v, where: ((q &+ 1) & 2) .== 2)
    }
}
