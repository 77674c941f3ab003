import Primitives
import Tensor

/// Direct depthwise convolution (groups == input channels; `m` output channels per input
/// channel). Each output row is a sum of shifted, scaled input rows, vectorised along x when the
/// stride is 1.
public enum Depthwise {
    /// `finish(o, plane)` runs on output channel o's plane (of every image) right after it is
    /// computed, while it is in cache.
    static func forward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: Tensor,
                        finish: ((Int, UnsafeMutablePointer<Float>) -> Void)? = nil) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, kh, kw, oh, ow) = (y.shape[1], w.shape[2], w.shape[3], y.shape[2], y.shape[3])
        let m = oc / c
        let rows3 = rowKernelApplies(g, kh: kh, kw: kw, width: wd, outWidth: ow)
        let zeros = UnsafeMutablePointer<Float>.allocate(capacity: rows3 ? wd : 0)
        zeros.initialize(repeating: 0, count: rows3 ? wd : 0)
        defer { zeros.deallocate() }
        Parallel.forChunks(n * oc, grain: 1) { range in
            for t in range {
                let b = t / oc, o = t % oc, ci = o / m
                let src = x.ptr + (b * c + ci) * h * wd
                let dst = y.ptr + t * oh * ow
                let k = w.ptr + o * kh * kw
                if rows3 {
                    for oy in 0..<oh {
                        func line(_ i: Int) -> UnsafePointer<Float> {
                            let iy = oy * g.strideH - g.padH + i
                            return iy >= 0 && iy < h ? UnsafePointer(src + iy * wd) : UnsafePointer(zeros)
                        }
                        row3x3(stride: g.strideW, line(0), line(1), line(2), k, dst + oy * ow, ow, width: wd)
                    }
                    finish?(o, dst)
                    continue
                }
                dst.update(repeating: 0, count: oh * ow)
                for oy in 0..<oh {
                    let out = dst + oy * ow
                    for i in 0..<kh {
                        let iy = oy * g.strideH - g.padH + i * g.dilationH
                        if iy < 0 || iy >= h { continue }
                        let line = src + iy * wd
                        for j in 0..<kw {
                            let wv = k[i * kw + j]
                            let x0 = j * g.dilationW - g.padW
                            // valid ox: 0 ≤ ox·s + x0 < wd
                            let lo = x0 >= 0 ? 0 : (-x0 + g.strideW - 1) / g.strideW
                            let hi = min(ow, wd - x0 <= 0 ? 0 : (wd - x0 - 1) / g.strideW + 1)
                            if hi <= lo { continue }
                            if g.strideW == 1 {
                                axpy(wv, line + x0 + lo, out + lo, hi - lo)
                            } else {
                                for ox in lo..<hi { out[ox] += wv * line[ox * g.strideW + x0] }
                            }
                        }
                    }
                }
                finish?(o, dst)
            }
        }
    }

    static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ dx: Tensor) {
        let (n, c, h, wd) = (dx.shape[0], dx.shape[1], dx.shape[2], dx.shape[3])
        let (oc, kh, kw, oh, ow) = (dy.shape[1], w.shape[2], w.shape[3], dy.shape[2], dy.shape[3])
        let m = oc / c
        dx.ptr.update(repeating: 0, count: dx.count)
        Parallel.forChunks(n * c, grain: 1) { range in
            for t in range {
                let b = t / c, ci = t % c
                let dst = dx.ptr + t * h * wd
                for mo in 0..<m {
                    let o = ci * m + mo
                    let src = dy.ptr + (b * oc + o) * oh * ow
                    let k = w.ptr + o * kh * kw
                    for oy in 0..<oh {
                        let gline = src + oy * ow
                        for i in 0..<kh {
                            let iy = oy * g.strideH - g.padH + i * g.dilationH
                            if iy < 0 || iy >= h { continue }
                            let line = dst + iy * wd
                            for j in 0..<kw {
                                let wv = k[i * kw + j]
                                let x0 = j * g.dilationW - g.padW
                                let lo = x0 >= 0 ? 0 : (-x0 + g.strideW - 1) / g.strideW
                                let hi = min(ow, wd - x0 <= 0 ? 0 : (wd - x0 - 1) / g.strideW + 1)
                                if hi <= lo { continue }
                                if g.strideW == 1 { axpy(wv, gline + lo, line + x0 + lo, hi - lo) }
                                else { for ox in lo..<hi { line[ox * g.strideW + x0] += wv * gline[ox] } }
                            }
                        }
                    }
                }
            }
        }
    }

    static func backwardWeight(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry, _ dw: Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oc, kh, kw, oh, ow) = (dy.shape[1], dw.shape[2], dw.shape[3], dy.shape[2], dy.shape[3])
        let m = oc / c
        Parallel.forChunks(oc, grain: 1) { range in
            for o in range {
                let ci = o / m
                for i in 0..<kh {
                    for j in 0..<kw {
                        var acc: Double = 0
                        let x0 = j * g.dilationW - g.padW
                        let lo = x0 >= 0 ? 0 : (-x0 + g.strideW - 1) / g.strideW
                        let hi = min(ow, wd - x0 <= 0 ? 0 : (wd - x0 - 1) / g.strideW + 1)
                        for b in 0..<n {
                            let src = x.ptr + (b * c + ci) * h * wd
                            let gsrc = dy.ptr + (b * oc + o) * oh * ow
                            for oy in 0..<oh {
                                let iy = oy * g.strideH - g.padH + i * g.dilationH
                                if iy < 0 || iy >= h || hi <= lo { continue }
                                let line = src + iy * wd, gl = gsrc + oy * ow
                                var s: Float = 0
                                if g.strideW == 1 { s = dot(line + x0 + lo, gl + lo, hi - lo) }
                                else { for ox in lo..<hi { s += line[ox * g.strideW + x0] * gl[ox] } }
                                acc += Double(s)
                            }
                        }
                        dw.ptr[(o * kh + i) * kw + j] = Float(acc)
                    }
                }
            }
        }
    }

    /// Whether `row3x3` (stride 1: output as wide as the input, at least 18 columns) or
    /// `row3x3s2` (stride 2: at least 34 input columns) computes this geometry's rows: 3×3 taps,
    /// equal strides, no dilation, one column of padding.
    public static func rowKernelApplies(_ g: ConvGeometry, kh: Int, kw: Int, width: Int, outWidth: Int) -> Bool {
        guard kh == 3 && kw == 3 && g.strideH == g.strideW && g.dilationH == 1 && g.dilationW == 1 && g.padW == 1 else { return false }
        switch g.strideW {
        case 1: return outWidth == width && width >= 18
        case 2: return outWidth == (width - 1) / 2 + 1 && width >= 34
        default: return false
        }
    }

    /// One row of the stride-2 case: out[x] = Σ_i Σ_j k[3i + j]·row_i[2x + j − 1] for x < n, input
    /// columns outside [0, width) reading as zero. Each 16-output vector takes its even and odd
    /// input columns from two 32-column loads (`evenHalf` / `oddHalf`); taps are summed in the
    /// shifted-row form's order. Outputs a vector cannot reach (column 0, an odd width's last) are scalar.
    @inline(__always)
    static func row3x3s2(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                         _ out: UnsafeMutablePointer<Float>, _ n: Int, width: Int) {
        @inline(__always) func edge(_ x: Int) { out[x] = edgeColumn(r0, r1, r2, k, x, stride: 2, width: width) }
        @inline(__always) func load32(_ p: UnsafePointer<Float>) -> SIMD32<Float> {
            UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
        }
        edge(0)
        let w0 = V(repeating: k[0]), w1 = V(repeating: k[1]), w2 = V(repeating: k[2])
        let w3 = V(repeating: k[3]), w4 = V(repeating: k[4]), w5 = V(repeating: k[5])
        let w6 = V(repeating: k[6]), w7 = V(repeating: k[7]), w8 = V(repeating: k[8])
        let last = (width - 32) / 2          // the last vector's first output: reads columns up to 2·last + 31 < width
        var x = 1
        while true {
            let c = min(x, last)
            var acc = V(repeating: 0)
            var a = load32(r0 + 2 * c), b = load32(r0 + 2 * c - 2)
            acc = acc + w0 * b.oddHalf; acc = acc + w1 * a.evenHalf; acc = acc + w2 * a.oddHalf
            a = load32(r1 + 2 * c); b = load32(r1 + 2 * c - 2)
            acc = acc + w3 * b.oddHalf; acc = acc + w4 * a.evenHalf; acc = acc + w5 * a.oddHalf
            a = load32(r2 + 2 * c); b = load32(r2 + 2 * c - 2)
            acc = acc + w6 * b.oddHalf; acc = acc + w7 * a.evenHalf; acc = acc + w8 * a.oddHalf
            store16(acc, out + c)
            if c == last { break }
            x += 16
        }
        for x in (last + 16)..<n { edge(x) }
    }

    /// One output column of the row kernels the vectors do not reach, in the same tap order:
    /// Σ_i Σ_j k[3i + j]·row_i[s·x + j − 1] over input columns inside [0, width).
    @inline(__always)
    static func edgeColumn(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                           _ x: Int, stride: Int, width: Int) -> Float {
        var s: Float = 0
        for i in 0..<3 {
            let r = i == 0 ? r0 : (i == 1 ? r1 : r2)
            for j in 0..<3 where stride * x + j - 1 >= 0 && stride * x + j - 1 < width { s += k[3 * i + j] * r[stride * x + j - 1] }
        }
        return s
    }

    /// `row3x3` or `row3x3s2` by stride.
    @inline(__always)
    static func row3x3(stride: Int, _ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>,
                       _ k: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ n: Int, width: Int) {
        if stride == 1 { row3x3(r0, r1, r2, k, out, n) } else { row3x3s2(r0, r1, r2, k, out, n, width: width) }
    }

    /// One output row of a 3×3, stride-1 depthwise conv with one column of padding:
    /// out[x] = Σ_i Σ_j k[3i + j]·row_i[x + j − 1], columns outside [0, n) reading as zero (a
    /// row the input lacks is passed as a row of zeros). The nine taps of each 16-column vector
    /// are summed in registers from unaligned loads, in the shifted-row form's order (tap by
    /// tap, multiply then add), so results equal `axpy`'s; only the two edge columns are scalar.
    /// (The shifted-row form spends a load, an add and a store per tap, and its 15-column scalar
    /// tails on the ±1 taps of 256-wide rows took most of its time.) n ≥ 18.
    @inline(__always)
    static func row3x3(_ r0: UnsafePointer<Float>, _ r1: UnsafePointer<Float>, _ r2: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                       _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        @inline(__always) func edge(_ x: Int) { out[x] = edgeColumn(r0, r1, r2, k, x, stride: 1, width: n) }
        edge(0)
        let w0 = V(repeating: k[0]), w1 = V(repeating: k[1]), w2 = V(repeating: k[2])
        let w3 = V(repeating: k[3]), w4 = V(repeating: k[4]), w5 = V(repeating: k[5])
        let w6 = V(repeating: k[6]), w7 = V(repeating: k[7]), w8 = V(repeating: k[8])
        var x = 1
        while true {
            let c = min(x, n - 17)         // the last vector overlaps the one before instead of a scalar tail
            var acc = V(repeating: 0)
            acc = acc + w0 * load16(r0 + c - 1); acc = acc + w1 * load16(r0 + c); acc = acc + w2 * load16(r0 + c + 1)
            acc = acc + w3 * load16(r1 + c - 1); acc = acc + w4 * load16(r1 + c); acc = acc + w5 * load16(r1 + c + 1)
            acc = acc + w6 * load16(r2 + c - 1); acc = acc + w7 * load16(r2 + c); acc = acc + w8 * load16(r2 + c + 1)
            store16(acc, out + c)
            if c == n - 17 { break }
            x += 16
        }
        edge(n - 1)
    }

    typealias V = SIMD16<Float>

    @inline(__always) static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = SIMD16<Float>(repeating: a)
        while i + 16 <= n { store16(load16(y + i) + av * load16(x + i), y + i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    @inline(__always) static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var acc = SIMD16<Float>(repeating: 0)
        while i + 16 <= n { acc += load16(x + i) * load16(y + i); i += 16 }
        var s = VMath.hsum(acc)
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }
}
