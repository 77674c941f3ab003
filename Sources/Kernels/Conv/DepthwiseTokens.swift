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
                    for ox in 0..<ow {
                        let dst = out + ox * c
                        var ch = 0
                        while ch < c {
                            let vec = ch < full
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
}
