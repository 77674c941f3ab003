import Foundation
import Primitives
import Tensor

/// Reductions over any set of axes. Adjacent axes with the same role (kept or reduced) are merged;
/// the innermost run is then either reduced to one value (a row reduction, 16 partial sums) or
/// accumulated elementwise into a kept row (a column reduction), both vectorised.
public enum ReduceKernels {
    public typealias V = SIMD16<Float>

    public static func apply(_ f: ReduceFn, axes: [Int], _ x: Tensor, _ y: Tensor) {
        let r = x.rank
        let red = Set(axes.map { ShapeMath.axis($0, rank: r)! })
        // merged (size, reduced) groups, dropping size-1 axes
        var sizes: [Int] = [], reduced: [Bool] = []
        for i in 0..<r where x.shape[i] != 1 {
            let isR = red.contains(i)
            if let last = reduced.last, last == isR { sizes[sizes.count - 1] *= x.shape[i] }
            else { sizes.append(x.shape[i]); reduced.append(isR) }
        }
        let identity: Float = f == .max ? -.infinity : 0
        y.ptr.update(repeating: identity, count: y.count)
        if x.count == 0 { finish(f, y, n: 0); return }
        if sizes.isEmpty { sizes = [1]; reduced = [true] }
        let inStr = ShapeMath.strides(sizes)
        let keptSizes = zip(sizes, reduced).filter { !$0.1 }.map(\.0)
        let keptStr = ShapeMath.strides(keptSizes)
        var outStr = [Int](repeating: 0, count: sizes.count)
        var k = 0
        for i in 0..<sizes.count where !reduced[i] { outStr[i] = keptStr[k]; k += 1 }
        let isMax = f == .max
        let px = UnsafePointer(x.ptr), py = y.ptr

        // Split over the first kept group when there is one (disjoint outputs per thread).
        if let first = reduced.firstIndex(of: false), x.count >= 1 << 16 {
            Parallel.forChunks(sizes[first], grain: 1) { range in
                var s = sizes; s[first] = range.count
                rec(0, s, reduced, inStr, outStr, px + range.lowerBound * inStr[first],
                    py + range.lowerBound * outStr[first], isMax)
            }
        } else {
            rec(0, sizes, reduced, inStr, outStr, px, py, isMax)
        }
        let n = red.reduce(1) { $0 * x.shape[$1] }
        finish(f, y, n: n)
    }

    static func finish(_ f: ReduceFn, _ y: Tensor, n: Int) {
        if f == .mean {
            let inv = n == 0 ? Float.nan : 1 / Float(n)
            for i in 0..<y.count { y.ptr[i] *= inv }
        }
    }

    static func rec(_ d: Int, _ sizes: [Int], _ reduced: [Bool], _ inStr: [Int], _ outStr: [Int],
                    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ isMax: Bool) {
        let n = sizes[d]
        if d == sizes.count - 1 {
            if reduced[d] { y[0] = combine(y[0], rowReduce(x, n, isMax), isMax) }
            else { accumulate(x, y, n, isMax) }
            return
        }
        for i in 0..<n {
            rec(d + 1, sizes, reduced, inStr, outStr, x + i * inStr[d], y + (reduced[d] ? 0 : i * outStr[d]), isMax)
        }
    }

    @inline(__always) static func combine(_ a: Float, _ b: Float, _ isMax: Bool) -> Float {
        isMax ? (b > a || b.isNaN ? b : a) : a + b
    }

    static func rowReduce(_ x: UnsafePointer<Float>, _ n: Int, _ isMax: Bool) -> Float {
        var i = 0
        if isMax {
            var acc = V(repeating: -.infinity)
            while i + 16 <= n { acc = acc.replacing(with: load16(x + i), where: load16(x + i) .> acc); i += 16 }
            var m = VMath.hmax(acc)
            while i < n { m = combine(m, x[i], true); i += 1 }
            return m
        }
        var a0 = V(repeating: 0), a1 = V(repeating: 0)
        while i + 32 <= n { a0 += load16(x + i); a1 += load16(x + i + 16); i += 32 }
        while i + 16 <= n { a0 += load16(x + i); i += 16 }
        var s = VMath.hsum(a0 + a1)
        while i < n { s += x[i]; i += 1 }
        return s
    }

    static func accumulate(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ isMax: Bool) {
        var i = 0
        if isMax {
            while i + 16 <= n {
                let a = load16(y + i), b = load16(x + i)
                store16(a.replacing(with: b, where: b .> a), y + i); i += 16
            }
            while i < n { y[i] = combine(y[i], x[i], true); i += 1 }
        } else {
            while i + 16 <= n { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
            while i < n { y[i] += x[i]; i += 1 }
        }
    }
}

/// Softmax along one axis: max-subtracted, exponentiated with the vector exp, normalised.
public enum SoftmaxKernel {
    public static func apply(axis: Int, _ x: Tensor, _ y: Tensor) {
        let a = ShapeMath.axis(axis, rank: x.rank)!
        let n = x.shape[a]
        let inner = x.shape[(a + 1)...].reduce(1, *)
        let outer = x.shape[..<a].reduce(1, *)
        let px = UnsafePointer(x.ptr), py = y.ptr
        if inner == 1 {
            Parallel.forChunks(outer, grain: max(1, 4096 / max(n, 1))) { range in
                var o = range.lowerBound
                if n < 16 {
                    while o + 16 <= range.upperBound { shortRows16(px + o * n, py + o * n, n); o += 16 }
                }
                for r in o..<range.upperBound { row(px + r * n, py + r * n, n) }
            }
            return
        }
        Parallel.forChunks(outer * inner, grain: 256) { range in
            for t in range {
                let o = t / inner, i = t % inner
                let base = o * n * inner + i
                var m = -Float.infinity
                for k in 0..<n { m = max(m, px[base + k * inner]) }
                var s: Float = 0
                for k in 0..<n { let e = Float(Foundation.exp(Double(px[base + k * inner] - m))); py[base + k * inner] = e; s += e }
                for k in 0..<n { py[base + k * inner] /= s }
            }
        }
    }


    /// dx = y·(dy − Σₐ dy·y) along `axis`, given the softmax result y.
    public static func backward(axis: Int, y: Tensor, dy: Tensor, _ dx: Tensor) {
        let a = ShapeMath.axis(axis, rank: y.rank)!
        let n = y.shape[a]
        let inner = y.shape[(a + 1)...].reduce(1, *)
        let outer = y.shape[..<a].reduce(1, *)
        let py = UnsafePointer(y.ptr), pg = UnsafePointer(dy.ptr), px = dx.ptr
        Parallel.forChunks(outer * inner, grain: max(1, 4096 / max(n, 1))) { range in
            for t in range {
                let base = (t / inner) * n * inner + t % inner
                if inner == 1 {
                    let yr = py + base, gr = pg + base, xr = px + base
                    // Σ y·dy in double: dx = y ⊙ (dy − Σ y·dy) cancels, and for attention over
                    // thousands of keys a float32 sum's error becomes a visible part of dx (and of
                    // the q/k-projection gradients built on it).
                    var i = 0
                    var acc = SIMD8<Double>(repeating: 0)
                    while i + 8 <= n { acc += SIMD8<Double>(load8(yr + i)) * SIMD8<Double>(load8(gr + i)); i += 8 }
                    var dd = acc.sum()
                    while i < n { dd += Double(yr[i]) * Double(gr[i]); i += 1 }
                    let dot = Float(dd)
                    i = 0
                    let dv = SIMD16<Float>(repeating: dot)
                    while i + 16 <= n { store16(load16(yr + i) * (load16(gr + i) - dv), xr + i); i += 16 }
                    while i < n { xr[i] = yr[i] * (gr[i] - dot); i += 1 }
                } else {
                    var dd: Double = 0
                    for k in 0..<n { dd += Double(py[base + k * inner]) * Double(pg[base + k * inner]) }
                    let dot = Float(dd)
                    for k in 0..<n { px[base + k * inner] = py[base + k * inner] * (pg[base + k * inner] - dot) }
                }
            }
        }
    }

    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        if n < 16 { shortRow(x, y, n); return }
        let m = ReduceKernels.rowReduce(x, n, true)
        var i = 0
        var acc = SIMD16<Float>(repeating: 0)
        let mv = SIMD16<Float>(repeating: m)
        while i + 16 <= n { let e = VMath.exp(load16(x + i) - mv); store16(e, y + i); acc += e; i += 16 }
        var s = VMath.hsum(acc)
        if i < n {
            // the tail (a whole row of a short softmax: 7 keys in SAM's token attention) in one
            // vector exp; lanes past the row are never read
            var v = SIMD16<Float>(repeating: -.infinity)
            for k in 0..<(n - i) { v[k] = x[i + k] - m }
            let e = VMath.exp(v)
            for k in 0..<(n - i) { y[i + k] = e[k]; s += e[k] }
        }
        let inv = 1 / s
        i = 0
        while i + 16 <= n { store16(load16(y + i) * inv, y + i); i += 16 }
        while i < n { y[i] *= inv; i += 1 }
    }

    /// A row shorter than a vector (SAM's 7-key token attention): the same values as `row`
    /// (max, one vector exp over the padded row, the sum in lane order) without its 16-lane
    /// horizontal reductions, which cost more than the row itself.
    /// 16 consecutive rows of n < 16 (attention over a few tokens: SAM's decoder rows of 7), one
    /// row per lane: n full-width exps instead of 16 mostly idle ones. Per row it does what
    /// `shortRow` does, in the same order, so the results are identical.
    static func shortRows16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        typealias V = SIMD16<Float>
        withUnsafeTemporaryAllocation(of: V.self, capacity: n) { col in
            var m = V(repeating: -.infinity)
            for k in 0..<n {
                var v = V()
                for l in 0..<16 { v[l] = x[l * n + k] }
                col[k] = v
                m = m.replacing(with: v, where: (v .> m) .| (v .!= v))       // `combine`'s max, NaN kept
            }
            var s = V(repeating: 0)
            for k in 0..<n { let e = VMath.exp(col[k] - m); col[k] = e; s += e }
            let inv = 1 / s
            for k in 0..<n {
                let v = col[k] * inv
                for l in 0..<16 { y[l * n + k] = v[l] }
            }
        }
    }

    static func shortRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for k in 0..<n { m = ReduceKernels.combine(m, x[k], true) }
        var v = SIMD16<Float>(repeating: -.infinity)
        for k in 0..<n { v[k] = x[k] - m }
        let e = VMath.exp(v)
        var s: Float = 0
        for k in 0..<n { s += e[k] }
        let inv = 1 / s
        for k in 0..<n { y[k] = e[k] * inv }
    }
}
