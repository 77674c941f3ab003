import Foundation

/// The online-softmax step of fused attention, one query row and one key block at a time.
///
/// Per row: scores += bias (SAM's decomposed relative position), m′ = max(m, max scores),
/// P = exp(scores − m′) in place, l = α·l + Σ P and O *= α with α = exp(m − m′).
///
/// Cost model: each score costs 2·(d + dv) FLOPs in the two products (256 for SAM's heads, about
/// 8 cycles of FMA throughput) against one exp, so the exp must stay near 1 cycle: it is a
/// Cody–Waite reduction plus a degree-6 polynomial in FMAs, with only the lower clamp (every
/// argument is ≤ 0 here). When the bias grid's rows are whole vectors (kw a multiple of 16, as in
/// global attention) the bias is added on the fly, with no bias row built first.
extension AttentionKernel {
    /// `brow` holds at least m + 16 floats.
    @inline(__always)
    static func softmaxRow(_ g: Geometry, _ srow: UnsafeMutablePointer<Float>, keys: Range<Int>, row: Int,
                           bias: Bias, brow: UnsafeMutablePointer<Float>,
                           rmax: inout Float, rsum: inout Float, o: UnsafeMutablePointer<Float>) {
        let m = keys.count
        var top: Float
        switch bias {
        case .full(let base):
            let b = row / g.n, i = row % g.n
            top = addBias(srow, m, base + ((b % g.groups) * g.n + i) * g.m + keys.lowerBound, max: rmax)
        case .decomposed(let rh, let rw):
            let h = rh + row * g.kh, w = rw + row * g.kw
            if g.kw % 16 == 0 && keys.lowerBound % 16 == 0 {
                top = addGridBias(srow, m, first: keys.lowerBound, h, w, kw: g.kw, max: rmax)
            } else if g.kw <= 16 && keys.lowerBound % g.kw == 0 && 16 <= (g.batch * g.n - row) * g.kw {
                // short bias-grid rows (SAM's 14-wide windows), each from one vector read of rw (it may run into the next
                // query's rw row, never past the tensor); the spill lanes land in the next
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
        let sum = expShifted(srow, m, by: top)
        if keys.lowerBound == 0 {
            rsum = sum
        } else {
            let alpha = scalarExp(old - top)
            rsum = rsum * alpha + sum
            if alpha != 1 { for c in 0..<g.dv { o[c] *= alpha } }
        }
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

    /// x[t] += rh[(first + t) / kw] + rw[(first + t) % kw] for kw and first multiples of 16;
    /// returns max(max, x).
    @inline(__always)
    static func addGridBias(_ x: UnsafeMutablePointer<Float>, _ m: Int, first: Int, _ rh: UnsafePointer<Float>,
                            _ rw: UnsafePointer<Float>, kw: Int, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var t = 0, row = first / kw, col = first % kw
        while t + 16 <= m {
            let y = load16(x + t) + (V(repeating: rh[row]) + load16(rw + col))
            store16(y, x + t)
            mx = VMath.maximum(mx, y)
            t += 16; col += 16
            if col == kw { col = 0; row += 1 }
        }
        var best = Swift.max(top, mx.max())
        while t < m {
            x[t] += rh[row] + rw[col]
            best = Swift.max(best, x[t])
            t += 1; col += 1
        }
        return best
    }

    /// x += bias; returns max(max, x).
    @inline(__always)
    static func addBias(_ x: UnsafeMutablePointer<Float>, _ m: Int, _ bias: UnsafePointer<Float>, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= m {
            let y = load16(x + i) + load16(bias + i)
            store16(y, x + i)
            mx = VMath.maximum(mx, y)
            i += 16
        }
        var best = Swift.max(top, mx.max())
        for j in i..<m { x[j] += bias[j]; best = Swift.max(best, x[j]) }
        return best
    }

    /// max(max, x).
    @inline(__always)
    static func rowMax(_ x: UnsafeMutablePointer<Float>, _ m: Int, max top: Float) -> Float {
        var mx = V(repeating: -.infinity)
        var i = 0
        while i + 16 <= m { mx = VMath.maximum(mx, load16(x + i)); i += 16 }
        var best = Swift.max(top, mx.max())
        for j in i..<m { best = Swift.max(best, x[j]) }
        return best
    }

    /// x ← exp(x − shift) in place (every x ≤ shift); returns Σ of the new x.
    @inline(__always)
    static func expShifted(_ x: UnsafeMutablePointer<Float>, _ m: Int, by shift: Float) -> Float {
        let sv = V(repeating: shift)
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= m {
            let e = expNonPositive(load16(x + i) - sv)
            store16(e, x + i)
            acc += e
            i += 16
        }
        var sum = acc.sum()
        if i < m {
            var t = V(repeating: -.infinity)
            for j in i..<m { t[j - i] = x[j] - shift }
            let e = expNonPositive(t)
            for j in i..<m { x[j] = e[j - i]; sum += e[j - i] }
        }
        return sum
    }

    @inline(__always) static func scalarExp(_ x: Float) -> Float {
        var v = V(repeating: 0); v[0] = x
        return VMath.exp(v)[0]
    }

    /// eˣ for x ≤ 0: VMath.exp's reduction and polynomial, in FMAs and without the upper clamp
    /// (arguments below −87.3 give e^−87.3 ≈ 1e-38). Relative error ≈ 2 ulp.
    @inline(__always)
    static func expNonPositive(_ x0: V) -> V {
        let x = VMath.maximum(x0, V(repeating: -87.3))
        let magic = V(repeating: 12_582_912)
        let t = magic.addingProduct(x, V(repeating: 1.442_695_04))   // n + magic: round(x·log2 e)
        let n = t - magic
        let r = x.addingProduct(n, V(repeating: -0.693_359_375)).addingProduct(n, V(repeating: 2.121_944_4e-4))
        var p = V(repeating: 1.987_569_15e-4)
        p = V(repeating: 1.398_199_95e-3).addingProduct(p, r)
        p = V(repeating: 8.333_451_9e-3).addingProduct(p, r)
        p = V(repeating: 4.166_579_6e-2).addingProduct(p, r)
        p = V(repeating: 1.666_666_55e-1).addingProduct(p, r)
        p = V(repeating: 5.000_000_1e-1).addingProduct(p, r)
        p = r.addingProduct(p, r * r) + 1
        let e = (VMath.bits(t) &- VMath.bits(magic) &+ 127) &<< 23
        return p * VMath.fromBits(e)
    }
}
