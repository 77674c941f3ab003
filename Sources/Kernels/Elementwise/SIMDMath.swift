import CSIMD
/// Vector transcendental functions on SIMD16<Float> (zmm registers on AVX-512, ymm pairs on AVX2).
///
/// exp: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for eʳ and
/// 2ⁿ built in the exponent bits; relative error ≈ 2 ulp over [-87, 88].
/// erf: a rational function of x² (see `erf`), |error| < 5e-7.
public enum VMath {
    public typealias V = SIMD16<Float>

    @inline(__always) public static func exp(_ x0: V) -> V {
        let x = minimum(maximum(x0, V(repeating: -87.3)), V(repeating: 88.7))
        // n = round(x·log2 e) through the 1.5·2²³ trick: the addition rounds to an integer held
        // in the low mantissa bits, read back with integer ops (Swift's SIMD Float→Int
        // conversion is a scalar loop, ~14 ns per element).
        let magic = V(repeating: 12_582_912)
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = p * r * r + r + 1
        let e = (bits(t) &- bits(magic) &+ 127) &<< 23
        return p * fromBits(e)
    }

    /// Lane-wise max/min (Swift's `clamped` is several times slower than a compare-and-select).
    @inline(__always) public static func maximum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .> a) }
    /// Σ and max of the 16 lanes by halving shuffles (`V.sum()` / `V.max()` stay calls to a
    /// generic reduction). Sum order: lanes (i, i + 8), then (i, i + 4), then the four partials.
    @inline(__always) public static func hsum(_ v: V) -> Float { samdg_hsum16(unsafeBitCast(v, to: samdg_float16.self)) }
    @inline(__always) public static func hmax(_ v: V) -> Float { samdg_hmax16(unsafeBitCast(v, to: samdg_float16.self)) }
    @inline(__always) public static func minimum(_ a: V, _ b: V) -> V { a.replacing(with: b, where: b .< a) }

    @inline(__always) public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    @inline(__always) public static func tanh(_ x: V) -> V {
        // tanh(x) = sign(x)·(1 − 2/(e^{2|x|} + 1)); small |x| uses the odd polynomial for accuracy.
        let ax = abs(x)
        let e = exp(2 * minimum(ax, V(repeating: 9)))
        let big = 1 - 2 / (e + 1)
        let x2 = x * x
        // Taylor series of tanh to x¹⁵ (truncation < 3e-8 for |x| ≤ 0.55)
        var p = V(repeating: -1.455_834_4e-3)
        p = p * x2 + 3.592_128_0e-3
        p = p * x2 - 8.863_235_5e-3
        p = p * x2 + 2.186_948_9e-2
        p = p * x2 - 5.396_825_4e-2
        p = p * x2 + 1.333_333_3e-1
        p = p * x2 - 3.333_333_3e-1
        let small = x + x * x2 * p
        let signed = fromBits(bits(big) | (bits(x) & 0x8000_0000))
        return small.replacing(with: signed, where: ax .> 0.55)
    }

    @inline(__always) static func bits(_ x: V) -> SIMD16<UInt32> { unsafeBitCast(x, to: SIMD16<UInt32>.self) }
    @inline(__always) static func fromBits(_ x: SIMD16<UInt32>) -> V { unsafeBitCast(x, to: V.self) }
    @inline(__always) static func abs(_ x: V) -> V { fromBits(bits(x) & 0x7fff_ffff) }

    /// erf(x) = x·P(x²)/Q(x²) on x clamped to ±3.92 (beyond it erf rounds to ±1 in Float), with
    /// P of degree 6 and Q of degree 4: a rational fit of erf(x)/x in x² made for this file
    /// (iteratively reweighted least squares on the relative error, Lawson-style, then rounded to
    /// Float). No branches, no exp and one division; the sign comes with the odd factor x.
    /// Measured in Float arithmetic against a Double erf: |error| < 5e-7 absolute and relative
    /// (KernelParityTests.testErfAgainstDouble).
    @inline(__always) public static func erf(_ x0: V) -> V {
        let x = minimum(maximum(x0, V(repeating: -3.92)), V(repeating: 3.92))
        let t = x * x
        // Horner steps as fused multiply-adds (half the instructions, one rounding each)
        @inline(__always) func step(_ acc: V, _ c: Float) -> V { V(repeating: c).addingProduct(acc, t) }
        var p = V(repeating: 1.992_423_8e-8)
        p = step(p, -1.957_817_2e-6)
        p = step(p, 1.418_469_0e-4)
        p = step(p, 3.701_471_7e-3)
        p = step(p, 5.057_289_8e-2)
        p = step(p, 1.999_213_7e-1)
        p = step(p, 1.128_379_1)
        var q = V(repeating: 9.560_048_3e-4)
        q = step(q, 1.435_292_7e-2)
        q = step(q, 1.149_970_96e-1)
        q = step(q, 5.105_073_5e-1)
        q = step(q, 1)
        return x * p / q
    }
}
