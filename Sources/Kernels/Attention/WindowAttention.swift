import Foundation
import Primitives
import Tensor

/// `window_attention` (`WindowAttentionSpec`): TinyViT's windowed attention read straight from
/// the token image, with no padded copy, no window partition and no crop.
///
/// Unfused, a TinyViT block zero-pads its [B, H, W, C] tokens to whole windows, permutes them
/// into windows, runs LayerNorm and the qkv projection on every padded token, attends in every
/// window (pad queries included), permutes back and crops: at LiteMedSAM's 64×64 stages with
/// 14×14 and 7×7 windows, 70×70 = 4900 tokens for 4096 (+20%), plus three copies per block. The
/// compiler (`WindowAttentionFusion`) instead projects only the image's tokens and hands this
/// kernel the one row every pad token would have become (the row-wise ops applied to a zero
/// token). Pad tokens still take part as keys and values, as in PyTorch; they are just never
/// queries.
///
/// Algorithm: one task per (image, window). The task notes each window position's token row
/// (the pad row outside the image); then per head it gathers that head's q, k and v of every
/// position into an L1-sized block of 2d + dv floats per row, packs the keys from it
/// (`AttentionMicro.packKeys`), computes the scores of the real queries (read in place,
/// compacted only in edge windows) against all window² keys, adds the bias row of each query's
/// window position and takes the softmax (`softmaxWhole` on bias rows padded to whole vectors
/// with −∞; `softmaxRow` on the sgemm path), forms P·v, and writes each normalised row to its
/// token's place in the [B, H, W, heads·dv] result. With dv not a multiple of 16 the two
/// products go through single-threaded sgemm instead of the register-blocked microkernels.
extension AttentionKernel {
    /// Windows whose scores fit this many floats per task (one key block, no query tiling).
    public static func windowFits(_ w: WindowAttentionSpec) -> Bool {
        let n = w.tokens
        return n <= keyBlock && n * ((n + 15) / 16 * 16) <= 4 * tileBudget
    }

    /// qkv [B, H, W, R], padRow (R floats), bias [heads, N, N] or nil → out [B, H, W, heads·dv].
    public static func windowForward(_ w: WindowAttentionSpec, qkv: Tensor, padRow: Tensor, bias: Tensor?, _ out: Tensor) {
        precondition(windowFits(w), "window_attention: \(w.window)×\(w.window) windows exceed one key block")
        let (images, h, wd, row) = (qkv.shape[0], qkv.shape[1], qkv.shape[2], qkv.shape[3])
        let ws = w.window, n = w.tokens, (d, dv, heads) = (w.d, w.dv, w.heads)
        let rowsOfWindows = (h + ws - 1) / ws, colsOfWindows = (wd + ws - 1) / ws
        let tasks = images * rowsOfWindows * colsOfWindows
        if tasks == 0 { return }
        let g = Geometry(batch: tasks * heads, n: n, m: n, d: d, dv: dv, kh: 0, kw: 0, scale: w.scale, groups: heads)
        let micro = dv % AttentionMicro.panel == 0
        let kb = (n + 15) / 16 * 16, spare = max(kb, dv)
        let packedFloats = micro ? AttentionMicro.packedCount(m: n, d: d) : 0
        // per worker: one head's gathered rows, packed keys, compacted query rows (edge windows), scores,
        // bias row, microkernel spare, max and sum per row, the unnormalised output rows
        let hr = 2 * d + dv      // one head's gathered row: q | k | v
        let per = (n * hr + packedFloats + n * d + n * kb + kb + 16 + spare + 2 * n + n * dv + 15) & ~15
        let workers = max(1, min(Parallel.threads, tasks))
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        let positions = UnsafeMutablePointer<Int>.allocate(capacity: 2 * n * workers)
        defer { positions.deallocate() }
        let sources = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: n * workers)
        defer { sources.deallocate() }
        let src = UnsafePointer(qkv.ptr), pad = UnsafePointer(padRow.ptr), dst = out.ptr
        let biasPtr = bias.map { UnsafePointer($0.ptr) }
        let outRow = heads * dv
        let ls = w.scale * log2e
        // microkernel path: each query's bias row padded to kb keys, in base 2, −∞ past the n keys
        // (whose packed scores are 0), so a softmax row is whole vectors with no tail
        let biasRows = micro ? (biasPtr == nil ? 1 : heads * n) : 0
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: max(1, biasRows * kb))
        defer { padded.deallocate() }
        for r in 0..<biasRows {
            for j in 0..<kb { padded[r * kb + j] = j < n ? (biasPtr.map { $0[r * n + j] * log2e } ?? 0) : -.infinity }
        }
        Parallel.forTasks(tasks) { task, worker in
            let wx = task % colsOfWindows
            var rest = task / colsOfWindows
            let wy = rest % rowsOfWindows
            rest /= rowsOfWindows
            let image = rest
            let rows = scratch + worker * per, packed = rows + n * hr, qbuf = packed + packedFloats
            let s = qbuf + n * d, brow = s + n * kb, extra = brow + kb + 16, rmax = extra + spare, rsum = rmax + n
            let obuf = rsum + n
            let pos = positions + worker * 2 * n, from = sources + worker * n
            // the token row of every window position (the pad row outside the image);
            // pos[i] = (window position, token index in the image) of real query i
            var real = 0
            for iy in 0..<ws {
                let y = wy * ws + iy
                for ix in 0..<ws {
                    let p = iy * ws + ix, x = wx * ws + ix
                    let inside = y < h && x < wd
                    let token = (image * h + y) * wd + x
                    from[p] = inside ? src + token * row : pad
                    if inside {
                        pos[2 * real] = p
                        pos[2 * real + 1] = token
                        real += 1
                    }
                }
            }
            let full = real == n
            for head in 0..<heads {
                let qc = w.qOffset + head * w.headStride, kc = w.kOffset + head * w.headStride, vc = w.vOffset + head * w.headStride
                // this head's q, k and v of every window position, gathered into rows of hr floats
                // (an L1-sized block every product below reads from)
                for p in 0..<n {
                    let r = from[p], g = rows + p * hr
                    copyRow(r + qc, g, d); copyRow(r + kc, g + d, d); copyRow(r + vc, g + 2 * d, dv)
                }
                // queries: in place when the whole window is image, else the real ones compacted
                var q = UnsafePointer(rows), ldq = hr
                if !full {
                    for i in 0..<real { copyRow(rows + pos[2 * i] * hr, qbuf + i * d, d) }
                    q = UnsafePointer(qbuf); ldq = d
                }
                if micro {
                    AttentionMicro.packKeys(rows + d, ldk: hr, m: n, d: d, scale: ls, into: packed)
                    AttentionMicro.scores(q: q, ldq: ldq, rows: real, d: d, packed: packed, panels: kb / 16, s: s, lds: kb,
                                          rowScratch: extra)
                } else {
                    Gemm.sgemm(transA: false, transB: true, m: real, n: n, k: d, alpha: ls, a: q, lda: ldq, b: rows + d, ldb: hr,
                               c: s, ldc: kb)
                }
                if micro {
                    let perRow = biasPtr == nil ? 0 : kb, headRows = padded + head * n * perRow
                    for i in 0..<real {
                        rsum[i] = softmaxWhole(s + i * kb, headRows + pos[2 * i] * perRow, vectors: kb / 16)
                    }
                } else {
                    for i in 0..<real {
                        rmax[i] = -.infinity
                        rsum[i] = 0
                        softmaxRow(g, s + i * kb, keys: 0..<n, bias: biasPtr.map { .full($0 + (head * n + pos[2 * i]) * n) } ?? .none,
                                   brow: brow, rmax: &rmax[i], rsum: &rsum[i], o: obuf + i * dv)
                    }
                }
                if micro {
                    AttentionMicro.values(p: s, ldp: kb, rows: real, keys: n, v: rows + 2 * d, ldv: hr, dv: dv, o: obuf, ldo: dv,
                                          first: true, rowScratch: extra)
                } else {
                    Gemm.sgemm(transA: false, transB: false, m: real, n: dv, k: n, a: s, lda: kb, b: rows + 2 * d, ldb: hr,
                               c: obuf, ldc: dv)
                }
                for i in 0..<real {
                    normalise(obuf + i * dv, dv, into: dst + pos[2 * i + 1] * outRow + head * dv, dv, rows: 1, dv: dv, sums: rsum + i)
                }
            }
        }
    }

    /// A short row copy inline (a head's 32 floats: two vector moves, where `update(from:)`
    /// would call memmove once per row).
    @inline(__always)
    static func copyRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        var c = 0
        while c + 16 <= count { store16(load16(src + c), dst + c); c += 16 }
        while c < count { dst[c] = src[c]; c += 1 }
    }

    /// The unfused semantics in Double, for tests: pad the qkv image with the pad row to whole
    /// windows, attend in each window and head, crop.
    public static func windowReference(_ w: WindowAttentionSpec, qkv: Tensor, padRow: Tensor, bias: Tensor?) -> [Float] {
        let (images, h, wd, row) = (qkv.shape[0], qkv.shape[1], qkv.shape[2], qkv.shape[3])
        let ws = w.window, n = w.tokens
        let x = qkv.scalars, pad = padRow.scalars, b = bias?.scalars
        var out = [Float](repeating: 0, count: images * h * wd * w.heads * w.dv)
        var logits = [Double](repeating: 0, count: n)
        for image in 0..<images {
            for wy in 0..<((h + ws - 1) / ws) {
                for wx in 0..<((wd + ws - 1) / ws) {
                    func token(_ p: Int) -> (Int, Int, Bool) {
                        let y = wy * ws + p / ws, xx = wx * ws + p % ws
                        return (y, xx, y < h && xx < wd)
                    }
                    func value(_ p: Int, _ col: Int) -> Double {
                        let (y, xx, inside) = token(p)
                        return Double(inside ? x[((image * h + y) * wd + xx) * row + col] : pad[col])
                    }
                    for head in 0..<w.heads {
                        let qc = w.qOffset + head * w.headStride, kc = w.kOffset + head * w.headStride
                        let vc = w.vOffset + head * w.headStride
                        for i in 0..<n {
                            let (y, xx, inside) = token(i)
                            if !inside { continue }
                            for j in 0..<n {
                                var dot = 0.0
                                for c in 0..<w.d { dot += value(i, qc + c) * value(j, kc + c) }
                                logits[j] = Double(w.scale) * dot + (b.map { Double($0[(head * n + i) * n + j]) } ?? 0)
                            }
                            let top = logits.max()!
                            var sum = 0.0
                            for j in 0..<n { logits[j] = Foundation.exp(logits[j] - top); sum += logits[j] }
                            for c in 0..<w.dv {
                                var acc = 0.0
                                for j in 0..<n { acc += logits[j] * value(j, vc + c) }
                                out[((image * h + y) * wd + xx) * w.heads * w.dv + head * w.dv + c] = Float(acc / sum)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
