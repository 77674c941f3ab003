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
                               epilogue: ChannelEpilogue? = nil, operands: [Tensor] = []) {
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
        let d = dims(x: x.shape, w: w.shape, y: y.shape, g: g)
        let og = w.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        eachColumnMatrix(x, d, groups: g.groups) { n, gi, src in
            Gemm.sgemm(transA: false, transB: false, m: og, n: plane, k: kk,
                       a: w.ptr + gi * og * kk, lda: kk, b: src, ldb: plane,
                       c: y.ptr + (n * y.shape[1] + gi * og) * plane, ldc: plane)
        }
        epilogue?.apply(y, operands: operands)
    }

    /// dx = convᵀ(dy, w) with dx of shape `dx.shape`
    public static func backwardInput(_ dy: Tensor, _ w: Tensor, _ g: ConvGeometry, _ dx: Tensor) {
        if isDepthwise(x: dx.shape, g: g) { Depthwise.backwardInput(dy, w, g, dx); return }
        let d = dims(x: dx.shape, w: w.shape, y: dy.shape, g: g)
        let og = w.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        let pointwise = isPointwise(d)
        let patchify = Im2col.isPatchify(d)
        if !pointwise && !patchify { dx.ptr.update(repeating: 0, count: dx.count) }
        withColumns(!pointwise, kk * plane) { col in
            for n in 0..<dx.shape[0] {
                for gi in 0..<g.groups {
                    let xg = dx.ptr + (n * dx.shape[1] + gi * d.c) * d.h * d.w
                    Gemm.sgemm(transA: true, transB: false, m: kk, n: plane, k: og,
                               a: w.ptr + gi * og * kk, lda: kk, b: dy.ptr + (n * dy.shape[1] + gi * og) * plane, ldb: plane,
                               c: col ?? xg, ldc: plane)
                    if let col {
                        if patchify { Im2col.depthToSpace(col, d, xg) } else { Im2col.col2im(col, d, xg) }
                    }
                }
            }
        }
    }

    /// dw = Σₙ dy · im2col(x)ᵀ
    public static func backwardWeight(_ x: Tensor, _ dy: Tensor, _ g: ConvGeometry, _ dw: Tensor) {
        if isDepthwise(x: x.shape, g: g) { Depthwise.backwardWeight(x, dy, g, dw); return }
        let d = dims(x: x.shape, w: dw.shape, y: dy.shape, g: g)
        let og = dw.shape[0] / g.groups, kk = d.c * d.kh * d.kw, plane = d.oh * d.ow
        eachColumnMatrix(x, d, groups: g.groups) { n, gi, src in
            Gemm.sgemm(transA: false, transB: true, m: og, n: kk, k: plane,
                       a: dy.ptr + (n * dy.shape[1] + gi * og) * plane, lda: plane, b: src, ldb: plane,
                       beta: n == 0 ? 0 : 1, c: dw.ptr + gi * og * kk, ldc: kk)
        }
    }

    /// im2col, as a plain permutation when the geometry allows (`Im2col.isPatchify`).
    static func im2col(_ x: UnsafePointer<Float>, _ d: Im2col.Dims, _ col: UnsafeMutablePointer<Float>) {
        if Im2col.isPatchify(d) { Im2col.spaceToDepth(x, d, col) } else { Im2col.im2col(x, d, col) }
    }

    /// Calls `body(n, group, columns)` for every image and group in order, with the group's column
    /// matrix [c·kh·kw, oh·ow]: im2col into one pooled buffer, or the input itself for a
    /// pointwise conv.
    static func eachColumnMatrix(_ x: Tensor, _ d: Im2col.Dims, groups: Int,
                                 _ body: (_ n: Int, _ group: Int, _ columns: UnsafePointer<Float>) -> Void) {
        withColumns(!isPointwise(d), d.c * d.kh * d.kw * d.oh * d.ow) { col in
            for n in 0..<x.shape[0] {
                for gi in 0..<groups {
                    let xg = x.ptr + (n * x.shape[1] + gi * d.c) * d.h * d.w
                    if let col { im2col(xg, d, col); body(n, gi, UnsafePointer(col)) } else { body(n, gi, UnsafePointer(xg)) }
                }
            }
        }
    }

    /// Runs `body` with a column buffer of `count` floats from the scratch pool, or nil.
    static func withColumns(_ needed: Bool, _ count: Int, _ body: (UnsafeMutablePointer<Float>?) -> Void) {
        if needed { Scratch.withBuffer(floats: count) { body($0) } } else { body(nil) }
    }
}
