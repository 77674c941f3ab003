import Primitives
import Tensor

/// 2-D convolution as im2col + `cblas_sgemm` per image and group; 1×1 stride-1 unpadded
/// convolutions skip im2col (the input already is the column matrix); kernel = stride unpadded
/// ones (ConvTranspose2d(k2, s2) upscaling) use a space-to-depth permutation for im2col and its
/// inverse for col2im (no zero fill, no accumulation); depthwise convolutions
/// (one input channel per group) use the direct kernel in `Depthwise.swift`.
public enum ConvKernels {
    static func dims(x: [Int], w: [Int], y: [Int], g: ConvGeometry) -> Im2col.Dims {
        Im2col.Dims(c: x[1] / g.groups, h: x[2], w: x[3], kh: w[2], kw: w[3], oh: y[2], ow: y[3], g: g)
    }

    static func isPointwise(_ d: Im2col.Dims) -> Bool {
        d.kh == 1 && d.kw == 1 && d.g.strideH == 1 && d.g.strideW == 1 && d.g.padH == 0 && d.g.padW == 0
    }

    static func isDepthwise(x: [Int], g: ConvGeometry) -> Bool { g.groups > 1 && g.groups == x[1] }

    /// y = conv(x, w), then `epilogue` (its per-channel operands in `operands`) when given: on
    /// each channel plane right after it is computed (depthwise), or in one pass over the GEMM
    /// result. (Column tiles on one core each with OpenBLAS single-threaded, and column panels
    /// of ~4 MiB each followed by its epilogue while in cache, measured no faster on the 2-core
    /// machine: samdg-bench conv+bn+gelu.)
    public static func forward(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, _ y: Tensor,
                               epilogue: ChannelEpilogue? = nil, operands: [Tensor] = [], winograd: Bool = true) {
        if isDepthwise(x: x.shape, g: g) {
            if let epilogue {
                let k = epilogue.coefficients(operands, channels: y.shape[1])
                let plane = y.shape[2] * y.shape[3]
                let res = epilogue.residual.map { UnsafePointer(operands[$0].ptr) }
                Depthwise.forward(x, w, g, y) { o, p in
                    epilogue.apply(p, plane, o: k.o[o], s: k.s[o], t: k.t[o], r: res.map { $0 + (p - y.ptr) })
                }
            } else {
                Depthwise.forward(x, w, g, y)
            }
            return
        }
        let wino = winograd && Winograd.suits(x: x.shape, w: w.shape, y: y.shape, g)
        if TapRegions.suits(x: x.shape, w: w.shape, y: y.shape, g, winograd: wino) {
            TapRegions.forward(x: x, w: w, g, y: y)
            epilogue?.apply(y, operands: operands)
            return
        }
        if wino {
            Winograd.forward(x: x, w: w, pad: g.padH, dilation: g.dilationH, flipped: false, y: y)
            epilogue?.apply(y, operands: operands)
            return
        }
        let d = dims(x: x.shape, w: w.shape, y: y.shape, g: g)
        let og = w.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        eachColumnMatrix(x, d, groups: g.groups) { n, gi, src, rows in
            Gemm.sgemmNN(m: og, n: rows.count * d.ow, k: kk,
                         a: w.ptr + gi * og * kk, lda: kk, b: src, ldb: rows.count * d.ow,
                         c: y.ptr + (n * y.shape[1] + gi * og) * plane + rows.lowerBound * d.ow, ldc: plane)
        }
        epilogue?.apply(y, operands: operands)
    }

    /// dx = convᵀ(dy, w) with dx of shape `dx.shape`
    public static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ dx: Tensor, winograd: Bool = true) {
        if isDepthwise(x: dx.shape, g: g) { Depthwise.backwardInput(dy, w, g, dx); return }
        // stride 1: dx = conv(dy, w rotated and transposed; padding d(k − 1) − p), by Winograd or regions
        if dx.shape.count == 4 && w.shape.count == 4 && g.strideH == 1 && g.strideW == 1 && g.groups == 1 {
            let tg = TapRegions.transposedGeometry(g, kh: w.shape[2], kw: w.shape[3])
            let wt = [w.shape[1], w.shape[0], w.shape[2], w.shape[3]]
            if tg.padH >= 0 && tg.padW >= 0 {
                let wino = winograd && Winograd.suits(x: dy.shape, w: wt, y: dx.shape, tg)
                if TapRegions.suits(x: dy.shape, w: wt, y: dx.shape, tg, winograd: wino) {
                    TapRegions.backwardInput(dy: dy, w: w, g, dx: dx)
                    return
                }
                if wino {
                    Winograd.forward(x: dy, w: w, pad: tg.padH, dilation: g.dilationH, flipped: true, y: dx)
                    return
                }
            }
        }
        let d = dims(x: dx.shape, w: w.shape, y: dy.shape, g: g)
        let og = w.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        let pointwise = isPointwise(d)
        let patchify = Im2col.isPatchify(d)
        if !pointwise && !patchify { dx.ptr.update(repeating: 0, count: dx.count) }
        let block = rowBlock(d)
        // wᵀ per group [kk × og] for the unpacked kernel (a copy of the small operand), when it applies
        let transposed = PackedGemm.appliesNN(m: kk, n: min(block, d.oh) * d.ow, k: og)
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: transposed ? w.count : 1)
        defer { wt.deallocate() }
        if transposed {
            for gi in 0..<g.groups {
                let src = w.ptr + gi * og * kk, dst = wt + gi * og * kk
                for o in 0..<og { for i in 0..<kk { dst[i * og + o] = src[o * kk + i] } }
            }
        }
        withColumns(!pointwise, kk * block * d.ow) { col in
            for n in 0..<dx.shape[0] {
                for gi in 0..<g.groups {
                    let xg = dx.ptr + (n * dx.shape[1] + gi * d.c) * d.h * d.w
                    for r0 in stride(from: 0, to: d.oh, by: block) {
                        let rows = r0..<min(d.oh, r0 + block), cols = rows.count * d.ow
                        if transposed {
                            Gemm.sgemmNN(m: kk, n: cols, k: og, a: wt + gi * og * kk, lda: og,
                                         b: dy.ptr + (n * dy.shape[1] + gi * og) * plane + r0 * d.ow, ldb: plane,
                                         c: col ?? xg, ldc: col == nil ? plane : cols)
                        } else {
                            Gemm.sgemm(transA: true, transB: false, m: kk, n: cols, k: og,
                                       a: w.ptr + gi * og * kk, lda: kk,
                                       b: dy.ptr + (n * dy.shape[1] + gi * og) * plane + r0 * d.ow, ldb: plane,
                                       c: col ?? xg, ldc: col == nil ? plane : cols)
                        }
                        if let col {
                            if patchify { Im2col.depthToSpace(col, d, xg) } else { Im2col.col2im(col, d, xg, rows: rows) }
                        }
                    }
                }
            }
        }
    }

    /// dw = Σₙ dy · im2col(x)ᵀ
    public static func backwardWeight(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry, _ dw: Tensor, winograd: Bool = true) {
        if isDepthwise(x: x.shape, g: g) { Depthwise.backwardWeight(x, dy, g, dw); return }
        let wino = winograd && Winograd.suits(x: x.shape, w: dw.shape, y: dy.shape, g)
        if TapRegions.suits(x: x.shape, w: dw.shape, y: dy.shape, g, winograd: wino) {
            TapRegions.backwardWeight(x: x, dy: dy, g, dw: dw)
            return
        }
        if wino {
            Winograd.backwardWeight(x: x, dy: dy, pad: g.padH, dilation: g.dilationH, dw: dw)
            return
        }
        let d = dims(x: x.shape, w: dw.shape, y: dy.shape, g: g)
        let og = dw.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        eachColumnMatrix(x, d, groups: g.groups) { n, gi, src, rows in
            Gemm.sgemm(transA: false, transB: true, m: og, n: kk, k: rows.count * d.ow,
                       a: dy.ptr + (n * dy.shape[1] + gi * og) * plane + rows.lowerBound * d.ow, lda: plane,
                       b: src, ldb: rows.count * d.ow,
                       beta: n == 0 && rows.lowerBound == 0 ? 0 : 1, c: dw.ptr + gi * og * kk, ldc: kk)
        }
    }

    /// Calls `body(n, group, columns, rows)` for every image and group in order, and within one for
    /// blocks of output rows, with the column matrix of those rows [c·kh·kw, rows.count·ow]:
    /// im2col into one pooled buffer of at most `maxColumnFloats` (one block of all rows when it
    /// fits, and for patchify geometry), or the input itself for a pointwise conv.
    static func eachColumnMatrix(_ x: Tensor, _ d: Im2col.Dims, groups: Int,
                                 _ body: (_ n: Int, _ group: Int, _ columns: UnsafePointer<Float>, _ rows: Range<Int>) -> Void) {
        let pointwise = isPointwise(d), patchify = Im2col.isPatchify(d)
        let block = rowBlock(d)
        withColumns(!pointwise, d.c * d.kh * d.kw * block * d.ow) { col in
            for n in 0..<x.shape[0] {
                for gi in 0..<groups {
                    let xg = x.ptr + (n * x.shape[1] + gi * d.c) * d.h * d.w
                    guard let col else { body(n, gi, UnsafePointer(xg), 0..<d.oh); continue }
                    for r0 in stride(from: 0, to: d.oh, by: block) {
                        let rows = r0..<min(d.oh, r0 + block)
                        if patchify { Im2col.spaceToDepth(xg, d, col) } else { Im2col.im2col(xg, d, col, rows: rows) }
                        body(n, gi, UnsafePointer(col), rows)
                    }
                }
            }
        }
    }

    /// Bound on an im2col buffer (32 MiB): DeepLab's ASPP on 2048 channels at 64×64 would need
    /// 302 MB for the whole column matrix; blocks of output rows keep the GEMMs large (N ≥ the
    /// block's columns) while the scratch stays small.
    nonisolated(unsafe) public static var maxColumnFloats = 8 << 20

    /// Output rows per im2col block: all of them for pointwise convs (no columns) and patchify
    /// geometry (one whole permutation).
    static func rowBlock(_ d: Im2col.Dims) -> Int {
        if isPointwise(d) || Im2col.isPatchify(d) { return d.oh }
        return max(1, min(d.oh, maxColumnFloats / max(1, d.c * d.kh * d.kw * d.ow)))
    }

    /// Runs `body` with a column buffer of `count` floats from the scratch pool, or nil.
    static func withColumns(_ needed: Bool, _ count: Int, _ body: (UnsafeMutablePointer<Float>?) -> Void) {
        if needed { Scratch.withBuffer(floats: count) { body($0) } } else { body(nil) }
    }
}
