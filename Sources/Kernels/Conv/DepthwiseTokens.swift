import Primitives
import Tensor

/// Depthwise convolution on channels-last tokens: x [B, H·W, C] seen as an image B×H×W×C,
/// weights [C, 1, kh, kw], result [B, OH·OW, C] — the same numbers as permuting the tokens to
/// NCHW, convolving and permuting back, without either permute. Vectorised along the channels
/// (16 at a time); each output row then takes the channel epilogue (folded BatchNorm, bias,
/// activation) while it is in L1.
public enum DepthwiseTokens {
    public typealias V = SIMD16<Float>

    public static func forward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, height h: Int, width wd: Int, _ y: Tensor,
                               epilogue: ChannelEpilogue, operands: [Tensor]) {
        let (b, c) = (x.shape[0], x.shape[2])
        let (kh, kw) = (w.shape[2], w.shape[3])
        let oh = ConvGeometry.outExtent(h, kernel: kh, stride: g.strideH, pad: g.padH, dilation: g.dilationH)
        let ow = ConvGeometry.outExtent(wd, kernel: kw, stride: g.strideW, pad: g.padW, dilation: g.dilationW)
        // taps laid out [kh·kw][C], so 16 channels of one tap are one vector load
        // and the epilogue's coefficients o, s, t after them
        let t = UnsafeMutablePointer<Float>.allocate(capacity: (kh * kw + 3) * c)
        defer { t.deallocate() }
        for ch in 0..<c { for k in 0..<(kh * kw) { t[k * c + ch] = w.ptr[ch * kh * kw + k] } }
        let k = epilogue.coefficients(operands, channels: c)
        let ko = t + kh * kw * c, ks = ko + c, kt = ks + c
        for ch in 0..<c { ko[ch] = k.o[ch]; ks[ch] = k.s[ch]; kt[ch] = k.t[ch] }
        let full = c / 16 * 16
        do {
            Parallel.forChunks(b * oh, grain: max(1, 4096 / max(ow * c, 1))) { range in
                for row in range {
                    let bi = row / oh, oy = row % oh
                    let src = UnsafePointer(x.ptr) + bi * h * wd * c
                    let out = y.ptr + (bi * oh + oy) * ow * c
                    if kh == 3 && kw == 3 {
                        row3x3(src, row: oy, g, h: h, w: wd, c: c, taps: UnsafePointer(t), out: out, ow: ow)
                    } else {
                        anyRow(src, row: oy, g, h: h, w: wd, c: c, kh: kh, kw: kw, taps: UnsafePointer(t), out: out, ow: ow)
                    }
                    // epilogue over the row: channel affine, then the activation
                    for ox in 0..<ow {
                        let p = out + ox * c
                        var ch = 0
                        while ch < full {
                            let v = (load16(p + ch) + load16(ko + ch)) * load16(ks + ch) + load16(kt + ch)
                            store16(v, p + ch); ch += 16
                        }
                        while ch < c { p[ch] = (p[ch] + ko[ch]) * ks[ch] + kt[ch]; ch += 1 }
                    }
                    if let f = epilogue.activation { UnaryKernels.applySerial(f, out, out, count: ow * c) }
                }
            }
        }
    }

    /// One output row of a 3×3 depthwise conv on channels-last tokens, 16 channels at a time:
    /// the nine tap vectors stay in registers across the row, and interior columns (all three
    /// taps inside the image) run without bounds checks. Taps are summed in the generic loop's
    /// order (row by row, multiply then add; taps outside the image skipped), so results equal it.
    /// `taps` is [9][C].
    static func row3x3(_ src: UnsafePointer<Float>, row oy: Int, _ g: ConvGeometry, h: Int, w wd: Int, c: Int,
                       taps: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ow: Int) {
        func input(_ i: Int) -> UnsafePointer<Float>? {
            let iy = oy * g.strideH - g.padH + i * g.dilationH
            return iy >= 0 && iy < h ? src + iy * wd * c : nil
        }
        let r0 = input(0), r1 = input(1), r2 = input(2)
        // columns whose three taps are all inside: ox·s − p ≥ 0 and ox·s − p + 2d < W
        let sw = g.strideW, pw = g.padW, dw = g.dilationW
        let lo = min(ow, (pw + sw - 1) / sw)
        let hi = max(lo, min(ow, wd - 2 * dw + pw > 0 ? (wd - 2 * dw + pw - 1) / sw + 1 : 0))
        var ch = 0
        while ch + 16 <= c {
            let w0 = load16(taps + ch), w1 = load16(taps + c + ch), w2 = load16(taps + 2 * c + ch)
            let w3 = load16(taps + 3 * c + ch), w4 = load16(taps + 4 * c + ch), w5 = load16(taps + 5 * c + ch)
            let w6 = load16(taps + 6 * c + ch), w7 = load16(taps + 7 * c + ch), w8 = load16(taps + 8 * c + ch)
            @inline(__always) func line(_ r: UnsafePointer<Float>?, _ x0: Int, _ a: V, _ b: V, _ e: V, _ acc: inout V) {
                guard let r else { return }
                let p = r + x0 * c + ch
                acc += load16(p) * a; acc += load16(p + dw * c) * b; acc += load16(p + 2 * dw * c) * e
            }
            @inline(__always) func edge(_ r: UnsafePointer<Float>?, _ ox: Int, _ a: V, _ b: V, _ e: V, _ acc: inout V) {
                guard let r else { return }
                for j in 0..<3 {
                    let ix = ox * sw - pw + j * dw
                    if ix >= 0 && ix < wd { acc += load16(r + ix * c + ch) * (j == 0 ? a : (j == 1 ? b : e)) }
                }
            }
            for ox in 0..<ow {
                var acc = V(repeating: 0)
                if ox >= lo && ox < hi {
                    let x0 = ox * sw - pw
                    line(r0, x0, w0, w1, w2, &acc); line(r1, x0, w3, w4, w5, &acc); line(r2, x0, w6, w7, w8, &acc)
                } else {
                    edge(r0, ox, w0, w1, w2, &acc); edge(r1, ox, w3, w4, w5, &acc); edge(r2, ox, w6, w7, w8, &acc)
                }
                store16(acc, out + ox * c + ch)
            }
            ch += 16
        }
        if ch < c { anyRow(src, row: oy, g, h: h, w: wd, c: c, kh: 3, kw: 3, taps: taps, out: out, ow: ow, channels: ch..<c) }
    }

    /// One output row of any depthwise geometry on channels-last tokens, over the given channels:
    /// 16 at a time while whole vectors remain, then one by one; taps outside the image skipped.
    /// `taps` is [kh·kw][C].
    static func anyRow(_ src: UnsafePointer<Float>, row oy: Int, _ g: ConvGeometry, h: Int, w wd: Int, c: Int, kh: Int, kw: Int,
                    taps t: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, ow: Int, channels: Range<Int>? = nil) {
        let chans = channels ?? 0..<c
        for ox in 0..<ow {
            let dst = out + ox * c
            var ch = chans.lowerBound
            while ch < chans.upperBound {
                let vec = ch + 16 <= chans.upperBound
                var acc = V(repeating: 0), s: Float = 0
                for i in 0..<kh {
                    let iy = oy * g.strideH - g.padH + i * g.dilationH
                    if iy < 0 || iy >= h { continue }
                    for j in 0..<kw {
                        let ix = ox * g.strideW - g.padW + j * g.dilationW
                        if ix < 0 || ix >= wd { continue }
                        let p = src + (iy * wd + ix) * c + ch, q = t + (i * kw + j) * c + ch
                        if vec { acc += load16(p) * load16(q) } else { s += p[0] * q[0] }
                    }
                }
                if vec { store16(acc, dst + ch); ch += 16 } else { dst[ch] = s; ch += 1 }
            }
        }
    }
}
