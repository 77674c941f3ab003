import Primitives
import Tensor

/// An inverted-residual (MBConv) chain as one kernel, in row strips that stay in cache:
///
///     x [N, C, H, W] ─ 1×1 conv (C → E) · e₁ ─ depthwise k×k, stride s · e₂ ─ 1×1 conv (E → O) · e₃ ─▶ y
///
/// (an MBConv block at stride 1; TinyViT's patch merging at stride 2). Unfused, the two E-channel
/// intermediates make full round trips through memory: at TinyViT's first stage in LiteMedSAM
/// (E = 256 at 256×256) each is 64 MiB, written once and read once or twice, so the three steps
/// are bound by DRAM bandwidth, not arithmetic.
///
/// Here each task owns a band of output rows of one image and walks it in strips of `R` rows:
/// 1. expand: the input rows the strip needs and no earlier strip computed, as one sgemm
///    w₁[E×C] · x[C × rows·W] (x read in place, `ldb` = H·W), written into a ring of
///    (R−1)·s + (kh−1)·dH + 1 expanded rows per channel, then e₁ per channel. A row enters the
///    ring once, so only band edges recompute a halo;
/// 2. depthwise: the strip's R output rows per channel from the ring (shifted-row axpys, as
///    `Depthwise.forward`; rows and columns outside the image are the zero padding), then e₂;
/// 3. project: w₃[O×E] · strip[E × R·OW] straight into y's rows (`ldc` = OH·OW), then e₃ per
///    output channel (with its residual, e.g. the block's input, read at the same offsets).
/// Tasks run on `Parallel.forTasks` (one core per task; its GEMMs run whole on that core).
/// Sums run in the same order as the unfused kernels' per element except the GEMMs' blocking, so
/// results agree to float32 rounding.
public struct ConvChain: Hashable, Sendable, CustomStringConvertible {
    /// the depthwise convolution's geometry (groups = E)
    public var depthwise: ConvGeometry
    /// epilogues of the expand, depthwise and project convolutions; only `project` may have a residual
    public var expand, spatial, project: ChannelEpilogue
    /// how many of the step's operands after x, w₁, w₂, w₃ belong to each epilogue, in order
    public var operandCounts: [Int]

    public init(depthwise: ConvGeometry, expand: ChannelEpilogue, spatial: ChannelEpilogue, project: ChannelEpilogue,
                operandCounts: [Int]) {
        self.depthwise = depthwise; self.expand = expand; self.spatial = spatial; self.project = project
        self.operandCounts = operandCounts
    }

    public var description: String {
        "conv_chain(1x1·[\(expand)] → dw \(depthwise)·[\(spatial)] → 1x1·[\(project)])"
    }

    /// Target bytes of one task's ring of expanded rows: about L2-sized. On the LiteMedSAM block
    /// (samdg-bench mbconv) 0.5–1 MiB ran 1.2–1.4× the three folded convs, 4–8 MiB about 1.0×.
    static let ringBytes = 1 << 20

    /// args: x, w₁ [E, C, 1, 1], w₂ [E, 1, kh, kw], w₃ [O, E, 1, 1], then the epilogues' operands.
    public func forward(_ args: [Tensor], _ y: Tensor) {
        let x = args[0], w1 = args[1], w2 = args[2], w3 = args[3]
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (e, kh, kw) = (w1.shape[0], w2.shape[2], w2.shape[3])
        let (o, oh, ow) = (y.shape[1], y.shape[2], y.shape[3])
        let g = depthwise
        let ops1 = Array(args[4..<(4 + operandCounts[0])])
        let ops2 = Array(args[(4 + operandCounts[0])..<(4 + operandCounts[0] + operandCounts[1])])
        let ops3 = Array(args[(4 + operandCounts[0] + operandCounts[1])...])
        let k1 = expand.coefficients(ops1, channels: e), k2 = spatial.coefficients(ops2, channels: e)
        let k3 = project.coefficients(ops3, channels: o)
        let residual = project.residual.map { UnsafePointer(ops3[$0].ptr) }
        let halo = (kh - 1) * g.dilationH, sh = g.strideH, sw = g.strideW
        // R, output rows per strip, and the ring: the input rows one strip spans
        let rows = max(1, min(64, (Self.ringBytes / max(1, 4 * e * wd) - halo - 1) / sh + 1))
        let ring = (rows - 1) * sh + halo + 1
        // bands: about 2 per worker per image, each at least 2 strips tall
        let bandsPerImage = max(1, min((oh + 2 * rows - 1) / (2 * rows), 2 * Parallel.threads))
        let bandRows = (oh + bandsPerImage - 1) / bandsPerImage
        let px = UnsafePointer(x.ptr), p1 = UnsafePointer(w1.ptr), p2 = UnsafePointer(w2.ptr), p3 = UnsafePointer(w3.ptr)
        let py = y.ptr
        let rows3 = Depthwise.rowKernelApplies(g, kh: kh, kw: kw, width: wd, outWidth: ow)
        Parallel.forTasks(n * bandsPerImage) { task, _ in
            let b = task / bandsPerImage, band = task % bandsPerImage
            let o0 = band * bandRows, o1 = min(oh, o0 + bandRows)
            if o0 >= o1 { return }
            // ring then strip, from the scratch pool (no fresh pages to fault in on every call)
            Scratch.withBuffer(floats: e * ring * wd + e * rows * ow + (rows3 ? wd : 0)) { ringBuf in
                let strip = ringBuf + e * ring * wd
                let zeros = strip + e * rows * ow       // the zero row `row3x3` reads above and below the image
                if rows3 { zeros.update(repeating: 0, count: wd) }
                let xb = px + b * c * h * wd
                var next = max(0, o0 * sh - g.padH)     // first input row not yet in the ring
                var s0 = o0
                while s0 < o1 {
                    let s1 = min(o1, s0 + rows), nr = s1 - s0
                    // 1. expand the input rows this strip needs that the ring lacks
                    let need = min(h, (s1 - 1) * sh - g.padH + halo + 1)
                    while next < need {
                        let slot = next % ring
                        let count = min(need - next, ring - slot)
                        Gemm.sgemmNN(m: e, n: count * wd, k: c, a: p1, lda: c,
                                     b: xb + next * wd, ldb: h * wd, c: ringBuf + slot * wd, ldc: ring * wd)
                        for ch in 0..<e {
                            expand.apply(ringBuf + ch * ring * wd + slot * wd, count * wd, o: k1.o[ch], s: k1.s[ch], t: k1.t[ch])
                        }
                        next += count
                    }
                    // 2. depthwise over the ring into the strip
                    for ch in 0..<e {
                        let src = ringBuf + ch * ring * wd
                        let k = p2 + ch * kh * kw
                        let dst = strip + ch * nr * ow
                        if rows3 {
                            for oy in s0..<s1 {
                                func line(_ i: Int) -> UnsafePointer<Float> {
                                    let iy = oy * sh - g.padH + i
                                    return iy >= 0 && iy < h ? UnsafePointer(src + (iy % ring) * wd) : UnsafePointer(zeros)
                                }
                                Depthwise.row3x3(stride: sw, line(0), line(1), line(2), k, dst + (oy - s0) * ow, ow, width: wd)
                            }
                            spatial.apply(dst, nr * ow, o: k2.o[ch], s: k2.s[ch], t: k2.t[ch])
                            continue
                        }
                        dst.update(repeating: 0, count: nr * ow)
                        for oy in s0..<s1 {
                            let out = dst + (oy - s0) * ow
                            for i in 0..<kh {
                                let iy = oy * sh - g.padH + i * g.dilationH
                                if iy < 0 || iy >= h { continue }
                                let line = src + (iy % ring) * wd
                                for j in 0..<kw {
                                    let x0 = j * g.dilationW - g.padW, wv = k[i * kw + j]
                                    // valid ox: 0 ≤ ox·s + x0 < W
                                    let lo = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw
                                    let hi = min(ow, wd - x0 <= 0 ? 0 : (wd - x0 - 1) / sw + 1)
                                    if hi <= lo { continue }
                                    if sw == 1 {
                                        Depthwise.axpy(wv, line + x0 + lo, out + lo, hi - lo)
                                    } else {
                                        for ox in lo..<hi { out[ox] += wv * line[ox * sw + x0] }
                                    }
                                }
                            }
                        }
                        spatial.apply(dst, nr * ow, o: k2.o[ch], s: k2.s[ch], t: k2.t[ch])
                    }
                    // 3. project into y's rows, then the last epilogue
                    let yb = py + b * o * oh * ow + s0 * ow
                    Gemm.sgemmNN(m: o, n: nr * ow, k: e, a: p3, lda: e,
                                 b: strip, ldb: nr * ow, c: yb, ldc: oh * ow)
                    for ch in 0..<o {
                        let off = ch * oh * ow
                        project.apply(yb + off, nr * ow, o: k3.o[ch], s: k3.s[ch], t: k3.t[ch],
                                      r: residual.map { $0 + b * o * oh * ow + s0 * ow + off })
                    }
                    s0 = s1
                }
            }
        }
    }
}
