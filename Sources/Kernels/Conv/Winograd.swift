import Foundation
import Primitives
import Tensor

/// 3×3 stride-1 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast
/// Algorithms for Convolutional Neural Networks", CVPR 2016): each 2×2 output tile is
///
///     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
///
/// for the tile's 4×4 input patch d and the 3×3 kernel g, so the channel sums become 16 GEMMs
/// (one per transformed position ξν: U[ξν] [K×C] · V[ξν] [C×tiles]) of 4 multiply-adds per output
/// pixel and channel pair instead of im2col's 9: 2.25× fewer.
///
///     Bᵀ = ⎡1  0 −1  0⎤    G = ⎡ 1    0    0 ⎤    Aᵀ = ⎡1  1  1  0⎤
///          ⎢0  1  1  0⎥        ⎢ ½    ½    ½ ⎥         ⎣0  1 −1 −1⎦
///          ⎢0 −1  1  0⎥        ⎢ ½   −½    ½ ⎥
///          ⎣0  1  0 −1⎦        ⎣ 0    0    1 ⎦
///
/// Dilation d (DeepLab's atrous convolutions) splits the output into d×d phases: the pixels
/// (d·u + a, d·v + b) of phase (a, b) are an undilated 3×3 convolution of the input pixels
/// (d·r + a − p, d·s + b − p), so a tile is 2×2 output pixels d apart and its patch 4×4 input
/// pixels d apart (zero outside the image, as the padding).
///
/// Work: tiles (image, row phase, tile row, column phase, tile column) in chunks of about 4 MiB
/// of transformed data (V and M, 16·(C + K) floats per tile), each chunk one task on one core:
/// input transform into V, 16 single-core sgemms into M, output transform into y. The weights are
/// transformed once per call (they change every training step).
///
/// The transposed form (`flipped`): y = conv(x, w′) with w′[c][k][i][j] = w[k][c][2−i][2−j] is
/// the input gradient of a stride-1 convolution (padding 2d − p), without materialising w′.
///
/// Float32 error: the transforms add and halve (exact up to rounding of sums of ≤ 4 terms), so
/// results differ from im2col by a few units in the last place of the larger partial sums
/// (WinogradTests measure it against float64).
public enum Winograd {
    /// Whether the geometry suits F(2×2, 3×3): a 3×3 kernel at stride 1, one group, equal
    /// dilations and paddings, at least `minChannels` input and output channels (below that the
    /// transforms cost more than the saved multiply-adds), and tiles mostly inside the output
    /// (`minOccupancy`).
    public static func suits(x: [Int], w: [Int], y: [Int], _ g: ConvGeometry) -> Bool {
        guard x.count == 4, w.count == 4, y.count == 4, w[2] == 3, w[3] == 3, g.groups == 1,
              g.strideH == 1, g.strideW == 1, g.dilationH == g.dilationW, g.padH == g.padW else { return false }
        guard enabled && w[0] >= minChannels && w[1] >= minChannels else { return false }
        return occupancy(y: y, dilation: g.dilationH) >= minOccupancy
    }

    /// The share of the tiles' 2×2 outputs that lie inside the output.
    public static func occupancy(y: [Int], dilation: Int) -> Double {
        let grid = Grid(n: 1, oh: y[2], ow: y[3], d: dilation)
        return Double(y[2] * y[3]) / Double(max(1, 4 * grid.perImage))
    }

    /// Smallest share of the tiles' 2×2 outputs that lie inside the output: at large dilations
    /// phases are short and their last tiles half empty (DeepLab's ASPP on 32×32: 0.64 at
    /// dilation 12, taken; 0.44 at 24, where the 2.25× saving is gone).
    static let minOccupancy = 0.6

    /// Off with `SAMDG_WINOGRAD=0` in the environment (every convolution then runs as im2col +
    /// sgemm, as before this kernel existed: for A/B timing and numerics).
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["SAMDG_WINOGRAD"] != "0"

    /// Smallest channel count (in and out) for which Winograd is chosen.
    nonisolated(unsafe) public static var minChannels = 64
    /// Floats of transformed data (V and M, or V and Ŷ) per chunk of tiles: 8 MiB measured best
    /// on the R18 step's dilated layers (4 MiB: 0.32 s, 8: 0.27 s, 16: 0.26–0.32 s per four
    /// calls). At least 128 tiles per chunk whatever the channels, so that the GEMMs keep a usable
    /// width on 2048-channel inputs (R50's ASPP).
    static let budget = 2 << 20

    /// Tiles per chunk: `budget` floats at 16·(c + k) per tile, a multiple of 16, in 128…cap.
    static func chunkTiles(c: Int, k: Int, cap: Int) -> Int {
        max(128, min(cap, budget / max(1, 16 * (c + k)) / 16 * 16))
    }

    /// y [N, K, OH, OW] = conv(x [N, C, H, W], w [K, C, 3, 3]; stride 1, padding p, dilation d),
    /// or with `flipped` conv(x, w′) for w [C, K, 3, 3] (see the type's note).
    public static func forward(x: Tensor, w: Tensor, pad p: Int, dilation d: Int, flipped: Bool, y: Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, oh, ow) = (y.shape[1], y.shape[2], y.shape[3])
        precondition(flipped ? (w.shape[0] == c && w.shape[1] == k) : (w.shape[0] == k && w.shape[1] == c))
        let grid = Grid(n: n, oh: oh, ow: ow, d: d)
        let total = grid.total
        if total == 0 { return }
        // U[ξν][k][c] = (G g Gᵀ)[ξ][ν]
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * k * c)
        defer { u.deallocate() }
        transformWeights(w, k: k, c: c, flipped: flipped, into: u)
        let chunk = chunkTiles(c: c, k: k, cap: 2048)
        let chunks = (total + chunk - 1) / chunk
        let px = UnsafePointer(x.ptr), py = y.ptr, pu = UnsafePointer(u)
        Parallel.forTasks(chunks) { task, _ in
            let t0 = task * chunk, tc = min(total, t0 + chunk) - t0
            let blocks = (tc + 15) / 16
            Scratch.withBuffer(floats: 16 * (c + k) * chunk) { vBuf in
            withUnsafeTemporaryAllocation(of: Tile.self, capacity: blocks * 16) { tl in
                let mBuf = vBuf + 16 * c * chunk
                // per tile: where its patch starts and its outputs go (lanes past the chunk's end
                // repeat its last tile, whose results are not stored)
                for t in 0..<(blocks * 16) {
                    tl[t] = grid.tile(t0 + min(t, tc - 1), pad: p, c: c, h: h, w: wd, k: k)
                }
                for blk in 0..<blocks {
                    transformInput(tl.baseAddress! + blk * 16, px, c: c, h: h, w: wd, d: d,
                                   into: vBuf + blk * 16, channelStride: chunk, positionStride: c * chunk)
                }
                // M[ξν] = U[ξν] · V[ξν] (the padded lanes of the last block are computed, not stored)
                let cols = blocks * 16
                for e in 0..<16 {
                    Gemm.sgemm(transA: false, transB: false, m: k, n: cols, k: c, a: pu + e * k * c, lda: c,
                               b: vBuf + e * c * chunk, ldb: chunk, c: mBuf + e * k * chunk, ldc: chunk)
                }
                // output transform: the 2×2 tiles Aᵀ M A into y (parts past the edge dropped),
                // 16 tiles per vector, then scattered from `yb`
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { ybuf in
                let yb = ybuf.baseAddress!
                for blk in 0..<blocks {
                    let tb = tl.baseAddress! + blk * 16
                    let lanes = min(16, tc - blk * 16)
                    for ko in 0..<k {
                        let src = mBuf + ko * chunk + blk * 16, stride = k * chunk
                        @inline(__always) func m(_ e: Int) -> SIMD16<Float> { load16(src + e * stride) }
                        // Aᵀ · along columns, then · A along rows
                        let s00 = m(0) + m(4) + m(8), s01 = m(1) + m(5) + m(9), s02 = m(2) + m(6) + m(10), s03 = m(3) + m(7) + m(11)
                        let s10 = m(4) - m(8) - m(12), s11 = m(5) - m(9) - m(13), s12 = m(6) - m(10) - m(14), s13 = m(7) - m(11) - m(15)
                        let y00 = s00 + s01 + s02, y01 = s01 - s02 - s03, y10 = s10 + s11 + s12, y11 = s11 - s12 - s13
                        store16(y00, yb); store16(y01, yb + 16); store16(y10, yb + 32); store16(y11, yb + 48)
                        let plane = py + ko * oh * ow
                        for l in 0..<lanes {
                            let o = plane + tb[l].out
                            o[0] = yb[l]
                            if tb[l].right { o[d] = yb[16 + l] }
                            if tb[l].down {
                                o[d * ow] = yb[32 + l]
                                if tb[l].right { o[d * ow + d] = yb[48 + l] }
                            }
                        }
                    }
                }
                }
            }
            }
        }
    }

    /// dw [K, C, 3, 3] = Σ over images and output pixels of dy ⊗ the input patch, for
    /// y = conv(x, w; stride 1, padding p, dilation d): the transpose of the tile map
    /// Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A in g,
    ///
    ///     dg = Gᵀ [ Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B) ] G,
    ///
    /// so the sum over tiles is 16 GEMMs S[ξν] [K×C] = Ŷ[ξν] [K×tiles] · V[ξν]ᵀ [tiles×C]
    /// (dY is zero past the output's edge). Tiles go in chunks of about `budget` floats of
    /// transformed data, in order; each chunk's transforms are split over the cores, its 16 GEMMs
    /// run one per task accumulating into S, so the result does not depend on the thread count.
    public static func backwardWeight(x: Tensor, dy: Tensor, pad p: Int, dilation d: Int, dw: Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, oh, ow) = (dy.shape[1], dy.shape[2], dy.shape[3])
        precondition(dw.shape == [k, c, 3, 3])
        let grid = Grid(n: n, oh: oh, ow: ow, d: d)
        let total = grid.total
        if total == 0 { dw.ptr.update(repeating: 0, count: dw.count); return }
        let chunk = chunkTiles(c: c, k: k, cap: 4096)
        let px = UnsafePointer(x.ptr), pdy = UnsafePointer(dy.ptr)
        Scratch.withBuffer(floats: 16 * (c + k) * chunk + 16 * k * c) { vBuf in
            let yBuf = vBuf + 16 * c * chunk, sBuf = yBuf + 16 * k * chunk
            for t0 in stride(from: 0, to: total, by: chunk) {
                let tc = min(total, t0 + chunk) - t0, blocks = (tc + 15) / 16
                Parallel.forChunks(blocks, grain: 1) { range in
                    withUnsafeTemporaryAllocation(of: Tile.self, capacity: 16) { tl in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { gb in
                        let tb = tl.baseAddress!, g = gb.baseAddress!
                        for blk in range {
                            let lanes = min(16, tc - blk * 16)
                            for l in 0..<16 { tb[l] = grid.tile(t0 + blk * 16 + min(l, lanes - 1), pad: p, c: c, h: h, w: wd, k: k) }
                            transformInput(tb, px, c: c, h: h, w: wd, d: d,
                                           into: vBuf + blk * 16, channelStride: chunk, positionStride: c * chunk)
                            // Ŷ[ξν][ko][l] = (A dY Aᵀ)[ξ][ν]; lanes past the chunk's end are zero
                            for ko in 0..<k {
                                g.update(repeating: 0, count: 64)
                                let plane = pdy + ko * oh * ow
                                for l in 0..<lanes {
                                    let o = plane + tb[l].out
                                    g[l] = o[0]
                                    if tb[l].right { g[16 + l] = o[d] }
                                    if tb[l].down {
                                        g[32 + l] = o[d * ow]
                                        if tb[l].right { g[48 + l] = o[d * ow + d] }
                                    }
                                }
                                let y00 = load16(g), y01 = load16(g + 16), y10 = load16(g + 32), y11 = load16(g + 48)
                                // A · along columns: [y·0, y·0 + y·1, y·0 − y·1, −y·1] per row
                                let z0 = (y00, y00 + y01, y00 - y01, -y01), z1 = (y10, y10 + y11, y10 - y11, -y11)
                                let dst = yBuf + ko * chunk + blk * 16, st = k * chunk
                                @inline(__always) func rows(_ col: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>) {
                                    store16(a, dst + col * st); store16(a + b, dst + (4 + col) * st)
                                    store16(a - b, dst + (8 + col) * st); store16(-b, dst + (12 + col) * st)
                                }
                                rows(0, z0.0, z1.0); rows(1, z0.1, z1.1); rows(2, z0.2, z1.2); rows(3, z0.3, z1.3)
                            }
                        }
                    }
                    }
                }
                // one GEMM per task: S[ξν] is K×C, often too small to split (64×64 at R18's first
                // stage), and each task's result is the same on any core
                Parallel.forTasks(16) { e, _ in
                    Gemm.sgemm(transA: false, transB: true, m: k, n: c, k: blocks * 16, a: yBuf + e * k * chunk, lda: chunk,
                               b: vBuf + e * c * chunk, ldb: chunk, beta: t0 == 0 ? 0 : 1, c: sBuf + e * k * c, ldc: c)
                }
            }
            // dw[ko][ci] = Gᵀ S G
            let pdw = dw.ptr, ps = UnsafePointer(sBuf)
            Parallel.forChunks(k * c, grain: 1024) { range in
                for idx in range {
                    var m = SIMD16<Float>()
                    for e in 0..<16 { m[e] = ps[e * k * c + idx] }
                    var r = SIMD16<Float>()                   // Gᵀ S: 3×4 row-major in lanes 0..<12
                    for col in 0..<4 {
                        let v = reduce(m[col], m[4 + col], m[8 + col], m[12 + col])
                        for i in 0..<3 { r[4 * i + col] = v[i] }
                    }
                    let out = pdw + idx * 9
                    for i in 0..<3 {                          // (Gᵀ S) G: 3×3
                        let v = reduce(r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3])
                        for j in 0..<3 { out[3 * i + j] = v[j] }
                    }
                }
            }
        }
    }

    /// One tile: its patch's first pixel (image offset, row y0, column x0; interior when the
    /// whole patch is inside the image) and its first output pixel, with whether the pixels d to
    /// the right and d down exist.
    struct Tile {
        var image, y0, x0: Int
        var interior: Bool
        var out: Int
        var right, down: Bool
    }

    /// The tiles of an output [N, ·, OH, OW] at dilation d, in order (image, row phase a, tile
    /// row, column phase b, tile column): tile rows (a, tu) cover output rows d·2tu + a and
    /// d·(2tu + 1) + a, tile columns likewise.
    struct Grid {
        let rows: [(phase: Int, index: Int)], cols: [(phase: Int, index: Int)]
        let n, oh, ow, d: Int
        init(n: Int, oh: Int, ow: Int, d: Int) {
            func tiles(_ extent: Int) -> [(phase: Int, index: Int)] {
                var out: [(Int, Int)] = []
                for a in 0..<d where a < extent {
                    let u = (extent - a + d - 1) / d
                    for t in 0..<((u + 1) / 2) { out.append((a, t)) }
                }
                return out
            }
            rows = tiles(oh); cols = tiles(ow)
            self.n = n; self.oh = oh; self.ow = ow; self.d = d
        }
        var perImage: Int { rows.count * cols.count }
        var total: Int { n * perImage }

        /// Tile t for an input [N, c, h, w] at padding `pad` and an output of k channels.
        func tile(_ t: Int, pad p: Int, c: Int, h: Int, w: Int, k: Int) -> Tile {
            let img = t / perImage, r = t % perImage
            let (a, tu) = rows[r / cols.count], (b, tv) = cols[r % cols.count]
            let oy = d * 2 * tu + a, ox = d * 2 * tv + b
            let y0 = oy - p, x0 = ox - p
            return Tile(image: img * c * h * w, y0: y0, x0: x0,
                        interior: y0 >= 0 && y0 + 3 * d < h && x0 >= 0 && x0 + 3 * d < w,
                        out: img * k * oh * ow + oy * ow + ox, right: ox + d < ow, down: oy + d < oh)
        }
    }

    /// V[ξν][ch][l] = (Bᵀ patch B)[ξ][ν] for the 16 tiles at `tb` and every channel, at
    /// `dst + ξν·positionStride + ch·channelStride + l`: each patch row's four pixels gathered
    /// into a 4 × 16 buffer, loaded as vectors, transformed 16 tiles at a time.
    static func transformInput(_ tb: UnsafePointer<Tile>, _ px: UnsafePointer<Float>, c: Int, h: Int, w wd: Int, d: Int,
                               into dst0: UnsafeMutablePointer<Float>, channelStride: Int, positionStride stride: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { gb in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { ob in
            let g = gb.baseAddress!, off = ob.baseAddress!
            let interior = (0..<16).allSatisfy { tb[$0].interior }
            for l in 0..<16 { off[l] = tb[l].image + tb[l].y0 * wd + tb[l].x0 }
            for ch in 0..<c {
                let plane = px + ch * h * wd
                /// patch row r of the 16 tiles, times B: [q0 − q2, q1 + q2, q2 − q1, q1 − q3]
                func row(_ r: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
                    if interior {
                        let rowOff = r * d * wd
                        for l in 0..<16 {
                            let line = plane + off[l] + rowOff
                            g[l] = line[0]; g[16 + l] = line[d]; g[32 + l] = line[2 * d]; g[48 + l] = line[3 * d]
                        }
                    } else {
                        g.update(repeating: 0, count: 64)
                        for l in 0..<16 {
                            let iy = tb[l].y0 + r * d
                            if iy < 0 || iy >= h { continue }
                            let row = plane + tb[l].image + iy * wd
                            for s in 0..<4 {
                                let ix = tb[l].x0 + s * d
                                if ix >= 0 && ix < wd { g[16 * s + l] = row[ix] }
                            }
                        }
                    }
                    let q0 = load16(g), q1 = load16(g + 16), q2 = load16(g + 32), q3 = load16(g + 48)
                    return (q0 - q2, q1 + q2, q2 - q1, q1 - q3)
                }
                let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
                // Bᵀ · along the columns
                let dst = dst0 + ch * channelStride
                @inline(__always) func column(_ col: Int, _ d0: SIMD16<Float>, _ d1: SIMD16<Float>, _ d2: SIMD16<Float>, _ d3: SIMD16<Float>) {
                    store16(d0 - d2, dst + col * stride)
                    store16(d1 + d2, dst + (4 + col) * stride)
                    store16(d2 - d1, dst + (8 + col) * stride)
                    store16(d1 - d3, dst + (12 + col) * stride)
                }
                column(0, r0.0, r1.0, r2.0, r3.0); column(1, r0.1, r1.1, r2.1, r3.1)
                column(2, r0.2, r1.2, r2.2, r3.2); column(3, r0.3, r1.3, r2.3, r3.3)
            }
        }
        }
    }

    /// G applied to three values: [g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2].
    @inline(__always) static func expand(_ g0: Float, _ g1: Float, _ g2: Float) -> SIMD4<Float> {
        SIMD4(g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
    }

    /// Gᵀ applied to four values: [s0 + ½(s1 + s2), ½(s1 − s2), ½(s1 + s2) + s3].
    @inline(__always) static func reduce(_ s0: Float, _ s1: Float, _ s2: Float, _ s3: Float) -> SIMD3<Float> {
        SIMD3(s0 + 0.5 * (s1 + s2), 0.5 * (s1 - s2), 0.5 * (s1 + s2) + s3)
    }

    /// U[ξν][ko][ci] = (G g Gᵀ)[ξ][ν] for every output channel ko and input channel ci.
    static func transformWeights(_ w: Tensor, k: Int, c: Int, flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let pw = UnsafePointer(w.ptr)
        Parallel.forChunks(k * c, grain: 1024) { range in
            for idx in range {
                let ko = idx / c, ci = idx % c
                var g = SIMD16<Float>()                       // 3×3 row-major in lanes 0..<9
                if flipped {                                  // w′[ko][ci] = w[ci][ko] rotated by 180°
                    let src = pw + (ci * k + ko) * 9
                    for i in 0..<9 { g[i] = src[8 - i] }
                } else {
                    let src = pw + (ko * c + ci) * 9
                    for i in 0..<9 { g[i] = src[i] }
                }
                var h = SIMD16<Float>()                       // G g: 4×3 row-major in lanes 0..<12
                for j in 0..<3 {
                    let col = expand(g[j], g[3 + j], g[6 + j])
                    for r in 0..<4 { h[3 * r + j] = col[r] }
                }
                for r in 0..<4 {                              // (G g) Gᵀ: 4×4
                    let row = expand(h[3 * r], h[3 * r + 1], h[3 * r + 2])
                    for s in 0..<4 { u[((4 * r + s) * k + ko) * c + ci] = row[s] }
                }
            }
        }
    }
}
