import CSIMD
import Foundation

/// The online-softmax step of fused attention, one query row and one key block at a time.
///
/// Per row: scores += bias (SAM's decomposed relative position), m′ = max(m, max scores),
/// P = exp(scores − m′) in place, l = α·l + Σ P and O *= α with α = exp(m − m′).
///
/// Cost model: each score costs 2·(d + dv) FLOPs in the two products (256 for SAM's heads, about
/// 8 cycles of FMA throughput) against one exp, so the exp must stay near 1 cycle: scores are
/// kept in base 2 (log2 e folded into the scale and the bias), and 2ˣ is one exact reduction plus
/// a degree-7 polynomial in FMAs, with only the lower clamp (every argument is ≤ 0 here). When the bias grid's rows are whole vectors (kw a multiple of 16, as in
/// global attention) the bias is added on the fly, with no bias row built first.
extension AttentionKernel {
    /// One query row's share of the logit bias.
    enum RowBias {
        case none
        /// the row of a full bias [M] (key 0 first)
        case full(UnsafePointer<Float>)
        /// the decomposed bias h[i] + w[j] of key i·kw + j; `wide`: 16 floats may be read from
        /// any w[j] (the tensor or scratch goes on that far)
        case grid(UnsafePointer<Float>, UnsafePointer<Float>, wide: Bool)
    }

    /// `brow` holds at least m + 16 floats.
    @inline(__always)
    static func softmaxRow(_ g: Geometry, _ srow: UnsafeMutablePointer<Float>, keys: Range<Int>,
                           bias: RowBias, brow: UnsafeMutablePointer<Float>,
                           rmax: inout Float, rsum: inout Float, o: UnsafeMutablePointer<Float>) {
        let m = keys.count
        var top: Float
        switch bias {
        case .full(let base):
            top = addBias(srow, m, base + keys.lowerBound, max: rmax)
        case .grid(let h, let w, let wide):
            if g.kw % 16 == 0 && keys.lowerBound % 16 == 0 {
                top = addGridBias(srow, m, first: keys.lowerBound, h, w, kw: g.kw, max: rmax)
            } else if g.kw <= 16 && keys.lowerBound % g.kw == 0 && wide {
                // short bias-grid rows (SAM's 14-wide windows), each from one vector read of w (it may run into the next
                // query's w row or the scratch's slack, never past the tensor); the spill lanes land in the next
                // segment before it is written, or in brow's 16 floats of slack
                var i = keys.lowerBound / g.kw, dst = brow
                while dst < brow + m {
                    let hv = V(repeating: h[i])
                    store16(hv + load16(w), dst)
                    dst += g.kw; i += 1
                }
                top = addBias(srow, m, UnsafePointer(brow), max: rmax)
            } else {
                decomposedBias(h, w, g.kw, keys: keys, into: brow)
                top = addBias(srow, m, UnsafePointer(brow), max: rmax)
            }
        case .none:
            top = rowMax(srow, m, max: rmax)
        }
        let old = rmax
        rmax = top
        let sum = exp2Shifted(srow, m, by: top)
        if keys.lowerBound == 0 {
            rsum = sum
        } else {
            let alpha = scalarExp2(old - top)
            rsum = rsum * alpha + sum
            if alpha != 1 { for c in 0..<g.dv { o[c] *= alpha } }
        }
    }

    /// One whole score row of `vectors`·16 keys in a single key block: x ← 2^(x + b − max) in
    /// place; returns Σ. `b` is the row's bias in base 2 with −∞ on padding keys (their
    /// 2^−126 floor adds nothing to a sum of at least 1). No scalar tail, no running maximum.
    @inline(__always)
    static func softmaxWhole(_ x: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, vectors: Int) -> Float {
        var mx = V(repeating: -.infinity)
        for v in 0..<vectors {
            let y = load16(x + 16 * v) + load16(b + 16 * v)
            store16(y, x + 16 * v)
            mx = VMath.maximum(mx, y)
        }
        let top = V(repeating: samdg_hmax16(unsafeBitCast(mx, to: samdg_float16.self)))
        var acc = V(repeating: 0)
        for v in 0..<vectors {
            let e = exp2NonPositive(load16(x + 16 * v) - top)
            store16(e, x + 16 * v)
            acc += e
        }
        return samdg_hsum16(unsafeBitCast(acc, to: samdg_float16.self))
    }

    /// `out[t] = rh[j / kw] + rw[j % kw]` for the keys j in `keys` (part of one query's row of
    /// the decomposed relative-position bias).
    @inline(__always)
    static func decomposedBias(_ rh: UnsafePointer<Float>, _ rw: UnsafePointer<Float>, _ kw: Int, keys: Range<Int>,
                               into out: UnsafeMutablePointer<Float>) {
        var j = keys.lowerBound, dst = out
        while j < keys.upperBound {
            let c0 = j % kw, len = min(kw - c0, keys.upperBound - j), h = rh[j / kw], src = rw + c0
            for t in 0..<len { dst[t] = h + src[t] }
            dst += len
            j += len
        }
    }

    /// x[t] += log2(e)·(rh[(first + t) / kw] + rw[(first + t) % kw]) for kw and first multiples of 16;
    /// returns max(max, x).
    @inline(__always)
    static func addGridBias(_ x: UnsafeMutablePointer<Float>, _ m: Int, first: Int, _ rh: UnsafePointer<Float>,
                            _ rw: UnsafePointer<Float>, kw: Int, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var t = 0, row = first / kw, col = first % kw
        while t + 16 <= m {
            let y = load16(x + t).addingProduct(V(repeating: rh[row]) + load16(rw + col), V(repeating: log2e))
            store16(y, x + t)
            mx = VMath.maximum(mx, y)
            t += 16; col += 16
            if col == kw { col = 0; row += 1 }
        }
        var best = Swift.max(top, VMath.hmax(mx))
        while t < m {
            x[t] += (rh[row] + rw[col]) * log2e
            best = Swift.max(best, x[t])
            t += 1; col += 1
        }
        return best
    }

    /// x += log2(e)·bias; returns max(max, x).
    @inline(__always)
    static func addBias(_ x: UnsafeMutablePointer<Float>, _ m: Int, _ bias: UnsafePointer<Float>, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= m {
            let y = load16(x + i).addingProduct(load16(bias + i), V(repeating: log2e))
            store16(y, x + i)
            mx = VMath.maximum(mx, y)
            i += 16
        }
        var best = Swift.max(top, VMath.hmax(mx))
        for j in i..<m { x[j] += bias[j] * log2e; best = Swift.max(best, x[j]) }
        return best
    }

    /// max(max, x).
    @inline(__always)
    static func rowMax(_ x: UnsafeMutablePointer<Float>, _ m: Int, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= m { mx = VMath.maximum(mx, load16(x + i)); i += 16 }
        var best = Swift.max(top, VMath.hmax(mx))
        for j in i..<m { best = Swift.max(best, x[j]) }
        return best
    }

    /// log2(e): scores enter in base-2 units (the scale is folded into the packed keys or the
    /// sgemm alpha, the bias into its add), so the softmax needs 2ˣ, whose range reduction is one
    /// exact subtraction.
    static let log2e: Float = 1.442_695_04

    /// x ← 2^(x − shift) in place (every x ≤ shift); returns Σ of the new x.
    @inline(__always)
    static func exp2Shifted(_ x: UnsafeMutablePointer<Float>, _ m: Int, by shift: Float) -> Float {
        let sv = V(repeating: shift)
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= m {
            let e = exp2NonPositive(load16(x + i) - sv)
            store16(e, x + i)
            acc += e
            i += 16
        }
        var sum = VMath.hsum(acc)
        if i < m {
            var t = V(repeating: -.infinity)
            for j in i..<m { t[j - i] = x[j] - shift }
            let e = exp2NonPositive(t)
            for j in i..<m { x[j] = e[j - i]; sum += e[j - i] }
        }
        return sum
    }

    @inline(__always) static func scalarExp2(_ x: Float) -> Float {
        var v = V(repeating: -.infinity); v[0] = x
        return exp2NonPositive(v)[0]
    }

    /// 2ˣ for x ≤ 0: n = round(x), f = x − n ∈ [−½, ½] exactly, 2ᶠ by VMath.exp's degree-7
    /// polynomial rewritten in f (coefficients cₖ·ln2ᵏ), 2ⁿ in the exponent bits. Arguments
    /// below −126 give 2^−126. Relative error ≈ 2 ulp; 15 vector ops.
    @inline(__always)
    static func exp2NonPositive(_ x0: V) -> V {
        let x = VMath.maximum(x0, V(repeating: -126))
        let magic = V(repeating: 12_582_912)
        let t = x + magic                               // n + magic: round(x) in the low mantissa bits
        let f = x - (t - magic)
        var p = V(repeating: 1.527_919_5e-5)
        p = V(repeating: 1.550_679_5e-4).addingProduct(p, f)
        p = V(repeating: 1.333_374_8e-3).addingProduct(p, f)
        p = V(repeating: 9.617_928_1e-3).addingProduct(p, f)
        p = V(repeating: 5.550_410_5e-2).addingProduct(p, f)
        p = V(repeating: 2.402_265_1e-1).addingProduct(p, f)
        p = V(repeating: 6.931_471_8e-1).addingProduct(p, f)
        p = V(repeating: 1).addingProduct(p, f)
        let e = (VMath.bits(t) &- VMath.bits(magic) &+ 127) &<< 23
        return p * VMath.fromBits(e)
    }
}
