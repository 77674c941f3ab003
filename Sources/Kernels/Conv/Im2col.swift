import Primitives

/// im2col / col2im for one image and one channel group: col[(c·kh + i)·kw + j][oy·ow + ox] =
/// x[c][oy·s − p + i·d][ox·s − p + j·d] (zero outside).
enum Im2col {
    struct Dims {
        let c, h, w, kh, kw, oh, ow: Int
        let g: ConvGeometry
    }

    /// The columns of output rows `rows` (all by default): col is [c·kh·kw, rows.count·ow].
    static func im2col(_ x: UnsafePointer<Float>, _ d: Dims, _ col: UnsafeMutablePointer<Float>, rows: Range<Int>? = nil) {
        let rows = rows ?? 0..<d.oh
        let plane = rows.count * d.ow
        Parallel.forChunks(d.c * d.kh * d.kw, grain: max(1, 8192 / max(plane, 1))) { range in
            for row in range {
                let c = row / (d.kh * d.kw), i = (row / d.kw) % d.kh, j = row % d.kw
                let dst = col + row * plane
                let src = x + c * d.h * d.w
                for oy in rows {
                    let iy = oy * d.g.strideH - d.g.padH + i * d.g.dilationH
                    let out = dst + (oy - rows.lowerBound) * d.ow
                    if iy < 0 || iy >= d.h { out.update(repeating: 0, count: d.ow); continue }
                    let line = src + iy * d.w
                    let x0 = j * d.g.dilationW - d.g.padW
                    if d.g.strideW == 1 {
                        // contiguous run: zeros, a copy, zeros
                        let lo = max(0, -x0), hi = min(d.ow, d.w - x0)
                        if hi <= lo { out.update(repeating: 0, count: d.ow); continue }
                        if lo > 0 { out.update(repeating: 0, count: lo) }
                        (out + lo).update(from: line + x0 + lo, count: hi - lo)
                        if hi < d.ow { (out + hi).update(repeating: 0, count: d.ow - hi) }
                    } else {
                        for ox in 0..<d.ow {
                            let ix = ox * d.g.strideW + x0
                            out[ox] = (ix >= 0 && ix < d.w) ? line[ix] : 0
                        }
                    }
                }
            }
        }
    }

    /// x += col2im(col) (x must be zeroed by the caller for a plain transpose), col holding the
    /// columns of output rows `rows` (all by default).
    static func col2im(_ col: UnsafePointer<Float>, _ d: Dims, _ x: UnsafeMutablePointer<Float>, rows: Range<Int>? = nil) {
        let rows = rows ?? 0..<d.oh
        let plane = rows.count * d.ow
        // Each channel's rows only touch that channel's plane: split over channels.
        Parallel.forChunks(d.c, grain: 1) { range in
            for c in range {
                let dstPlane = x + c * d.h * d.w
                for i in 0..<d.kh {
                    for j in 0..<d.kw {
                        let src = col + ((c * d.kh + i) * d.kw + j) * plane
                        for oy in rows {
                            let iy = oy * d.g.strideH - d.g.padH + i * d.g.dilationH
                            if iy < 0 || iy >= d.h { continue }
                            let line = dstPlane + iy * d.w
                            let s = src + (oy - rows.lowerBound) * d.ow
                            let x0 = j * d.g.dilationW - d.g.padW
                            for ox in 0..<d.ow {
                                let ix = ox * d.g.strideW + x0
                                if ix >= 0 && ix < d.w { line[ix] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Kernel = stride, no padding or dilation, one group, the input exactly tiled by the
    /// kernel: im2col is then a pure permutation (space-to-depth) and col2im its inverse, with
    /// no overlap to accumulate (ConvTranspose2d(k, stride k) layers and their gradients).
    static func isPatchify(_ d: Dims) -> Bool {
        let g = d.g
        return g.groups == 1 && d.kh == g.strideH && d.kw == g.strideW && g.padH == 0 && g.padW == 0
            && g.dilationH == 1 && g.dilationW == 1 && d.h == d.oh * d.kh && d.w == d.ow * d.kw
    }

    /// im2col for `isPatchify` geometry: col[c][i][j][oy][ox] = x[c][oy·kh + i][ox·kw + j].
    static func spaceToDepth(_ x: UnsafePointer<Float>, _ d: Dims, _ col: UnsafeMutablePointer<Float>) {
        Strided.gather(x, offset: 0, strides: [d.h * d.w, d.w, 1, d.kh * d.w, d.kw],
                       shape: [d.c, d.kh, d.kw, d.oh, d.ow], into: col)
    }

    /// col2im for `isPatchify` geometry, overwriting x (every element has exactly one source):
    /// x[c][oy·kh + i][ox·kw + j] = col[c][i][j][oy][ox].
    static func depthToSpace(_ col: UnsafePointer<Float>, _ d: Dims, _ x: UnsafeMutablePointer<Float>) {
        let plane = d.oh * d.ow
        if d.kw == 2 {
            // ConvTranspose2d(k2, s2): each output row interleaves two rows of col (j = 0, 1);
            // one loop stores both, so the compiler emits vector interleaving stores instead of
            // two passes of stride-2 scalar stores.
            Parallel.forChunks(d.c * d.kh * d.oh, grain: max(1, 8192 / max(1, 2 * d.ow))) { range in
                for t in range {
                    let c = t / (d.kh * d.oh), i = (t / d.oh) % d.kh, oy = t % d.oh
                    let a = col + ((c * d.kh + i) * 2) * plane + oy * d.ow, b = a + plane
                    let row = x + (c * d.h + oy * d.kh + i) * d.w
                    for ox in 0..<d.ow {
                        row[2 * ox] = a[ox]
                        row[2 * ox + 1] = b[ox]
                    }
                }
            }
            return
        }
        Strided.gather(col, offset: 0, strides: [d.kh * d.kw * plane, d.ow, d.kw * plane, 1, plane],
                       shape: [d.c, d.oh, d.kh, d.ow, d.kw], into: x)
    }
}
