import Foundation
import Tensor

/// Fused attention: `out = softmax(scale·q·kᵀ + bias)·v` per batch item, with the optional
/// decomposed relative-position bias of SAM's ViT, `bias[n, i·kw + j] = relH[n, i] + relW[n, j]`.
///
/// Shapes (equal leading batch dims, flattened to B): q [B, N, d], k [B, M, d], v [B, M, dv],
/// relH [B, N, kh], relW [B, N, kw] with kh·kw = M; out [B, N, dv].
///
/// Algorithm (one task per batch item and tile of `tileRows` queries; keys in blocks of
/// `keyBlock`, with the running max / sum of online softmax, so scratch is one [T, block] tile
/// per worker and never N×M per head):
///
/// ```
///   per key block j:   S = scale·q_tile·k_jᵀ              microkernel on k packed once per item
///     per row n:       S += bias_n,j;  m′ = max(m, max S)  (AttentionSoftmax)
///                      P = exp(S − m′) in place;  α = exp(m − m′)
///                      l = α·l + Σ P;  O_n *= α (after the first block);  m = m′
///                      O_tile += P·v_j                     microkernel reading v in place
///   O_tile[n, :] *= 1/l                                    (normalising O costs dv per row, not M)
/// ```
///
/// With dv a multiple of 16 both products are `AttentionMicro`'s register-blocked SIMD kernels
/// (about sgemm's large-matrix rate; OpenBLAS reaches ~60% of it on these K = 64 shapes because
/// it re-packs both operands on every call). Other dv take single-threaded sgemm per tile.
/// Tasks run on `Parallel.forTasks` workers; tiles stay L2-resident between the passes.
public enum AttentionKernel {
    public typealias V = SIMD16<Float>

    /// Keys per block (a row of scores in a block stays in L1).
    nonisolated(unsafe) public static var keyBlock = 512
    /// Scores per tile: rows × block ≤ this many floats (a tenth of a Zen 4 L2), with at least
    /// `minRows` rows.
    nonisolated(unsafe) public static var tileBudget = 48 * 512
    nonisolated(unsafe) public static var minRows = 48

    /// Query rows per tile for N queries over M keys.
    public static func tileRows(n: Int, m: Int) -> Int {
        max(1, min(n, max(minRows, tileBudget / max(min(m, keyBlock), 1))))
    }

    /// `bias` (exclusive with relH/relW): an additive logit bias [G, N, M] (flattened) where
    /// batch item b uses bias item b mod G (`ShapeMath.suffixBroadcastGroups`).
    public static func forward(q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?, bias full: Tensor? = nil,
                               scale: Float, _ out: Tensor) {
        let r = q.rank
        let n = q.shape[r - 2], d = q.shape[r - 1], m = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = ShapeMath.count(Array(q.shape.dropLast(2)))
        if out.count == 0 { return }
        if m == 0 {   // softmax over no keys times an empty v: zeros, as the unfused ops give
            out.ptr.update(repeating: 0, count: out.count)
            return
        }
        let geometry = Geometry(batch: batch, n: n, m: m, d: d, dv: dv,
                                kh: relH.map { $0.shape[r - 1] } ?? 0, kw: relW.map { $0.shape[r - 1] } ?? 0, scale: scale,
                                groups: full.map { $0.count / max(n * m, 1) } ?? 0)
        let bias: Bias
        if let h = relH, let w = relW { bias = .decomposed(UnsafePointer(h.ptr), UnsafePointer(w.ptr)) }
        else if let full { bias = .full(UnsafePointer(full.ptr)) }
        else { bias = .none }
        if dv % AttentionMicro.panel == 0 && d > 0 {
            forwardMicro(geometry, q: q.ptr, k: k.ptr, v: v.ptr, bias: bias, out: out.ptr)
        } else {
            forwardBLAS(geometry, q: q.ptr, k: k.ptr, v: v.ptr, bias: bias, out: out.ptr)
        }
    }

    /// Problem sizes of one call: B batch items of N queries and M keys; the bias grid is kh × kw.
    struct Geometry {
        let batch, n, m, d, dv, kh, kw: Int
        let scale: Float
        /// bias items of a full bias (batch item b uses b mod groups)
        let groups: Int
    }

    /// The additive logit bias of one call.
    enum Bias {
        case none
        /// SAM's relative position: relH [B·N, kh], relW [B·N, kw]
        case decomposed(UnsafePointer<Float>, UnsafePointer<Float>)
        /// [G, N, M]
        case full(UnsafePointer<Float>)
    }

    /// The microkernel path (dv a multiple of 16): k packed once per batch item, both products in
    /// registers (`AttentionMicro`).
    static func forwardMicro(_ g: Geometry, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                             bias: Bias, out: UnsafeMutablePointer<Float>) {
        let (m, d, dv) = (g.m, g.d, g.dv)
        let packedPer = AttentionMicro.packedCount(m: m, d: d)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedPer * g.batch)
        defer { packed.deallocate() }
        Parallel.forTasks(g.batch) { b, _ in
            AttentionMicro.packKeys(k + b * m * d, m: m, d: d, scale: g.scale * log2e, into: packed + b * packedPer)
        }
        let kb = min((max(keyBlock, 1) + 15) / 16 * 16, (m + 15) / 16 * 16)    // whole panels
        tiles(g, keyBlock: kb, spare: max(kb, dv), bias: bias, out: out, lds: { _ in kb },
              scores: { t, s, spare in
                  AttentionMicro.scores(q: q + t.row0 * d, ldq: d, rows: t.rows, d: d, packed: packed + t.item * packedPer + t.j0 * d,
                                        panels: (t.mb + 15) / 16, s: s, lds: kb, rowScratch: spare)
              },
              values: { t, s, o, spare in
                  AttentionMicro.values(p: s, ldp: kb, rows: t.rows, keys: t.mb, v: v + (t.item * m + t.j0) * dv, dv: dv,
                                        o: o, first: t.j0 == 0, rowScratch: spare)
              })
    }

    /// The general path: both products through single-threaded sgemm per query tile.
    static func forwardBLAS(_ g: Geometry, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                            bias: Bias, out: UnsafeMutablePointer<Float>) {
        let (m, d, dv) = (g.m, g.d, g.dv)
        tiles(g, keyBlock: max(1, min(m, keyBlock)), spare: 0, bias: bias, out: out, lds: { $0 },
              scores: { t, s, _ in
                  Gemm.sgemm(transA: false, transB: true, m: t.rows, n: t.mb, k: d, alpha: g.scale * log2e, a: q + t.row0 * d, lda: d,
                             b: k + (t.item * m + t.j0) * d, ldb: d, c: s, ldc: t.mb)
              },
              values: { t, s, o, _ in
                  Gemm.sgemm(transA: false, transB: false, m: t.rows, n: dv, k: t.mb, a: s, lda: t.mb,
                             b: v + (t.item * m + t.j0) * dv, ldb: dv, beta: t.j0 == 0 ? 0 : 1, c: o, ldc: dv)
              })
    }

    /// One key block of one query tile: batch item, first query row (in the flattened [B·N]
    /// rows), row count, first key and key count.
    struct Block { let item, row0, rows, j0, mb: Int }

    /// The online-softmax driver both paths share. Tasks are (batch item, tile of `tileRows`
    /// queries); per key block of `kb`, `scores` writes the logits S (row stride `lds(mb)`), the
    /// softmax step runs per row (`softmaxRow`), and `values` accumulates P·v into the tile's O.
    /// Per worker scratch: S [rows, kb], a bias row [kb + 16], `spare` floats for the products,
    /// and the running max and sum [rows].
    static func tiles(_ g: Geometry, keyBlock kb: Int, spare: Int, bias: Bias, out: UnsafeMutablePointer<Float>,
                      lds: (Int) -> Int,
                      scores: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                      values: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let (n, m, dv) = (g.n, g.m, g.dv)
        let rows = tileRows(n: n, m: m)
        let tilesPerItem = (n + rows - 1) / rows
        let tasks = g.batch * tilesPerItem
        let workers = max(1, min(Parallel.threads, tasks))
        let per = (rows * kb + kb + 16 + spare + 2 * rows + 15) & ~15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        Parallel.forTasks(tasks) { task, worker in
            let b = task / tilesPerItem, t0 = (task % tilesPerItem) * rows, tr = min(rows, n - t0)
            let s = scratch + worker * per, brow = s + rows * kb, extra = brow + kb + 16
            let rmax = extra + spare, rsum = rmax + rows
            let row0 = b * n + t0
            let o = out + row0 * dv
            rmax.update(repeating: -.infinity, count: tr)
            rsum.update(repeating: 0, count: tr)
            var j0 = 0
            while j0 < m {
                let mb = min(kb, m - j0), ld = lds(mb)
                let block = Block(item: b, row0: row0, rows: tr, j0: j0, mb: mb)
                scores(block, s, extra)
                for i in 0..<tr {
                    softmaxRow(g, s + i * ld, keys: j0..<(j0 + mb), row: row0 + i, bias: bias, brow: brow,
                               rmax: &rmax[i], rsum: &rsum[i], o: o + i * dv)
                }
                values(block, s, o, extra)
                j0 += mb
            }
            normalise(o, rows: tr, dv: dv, sums: rsum)
        }
    }

    /// O[i, :] *= 1 / l_i (normalising O costs dv per row, not M).
    @inline(__always)
    static func normalise(_ o: UnsafeMutablePointer<Float>, rows: Int, dv: Int, sums: UnsafePointer<Float>) {
        for i in 0..<rows {
            let oi = o + i * dv, c = 1 / sums[i]
            for j in 0..<dv { oi[j] *= c }
        }
    }

    /// Scalar reference (Double accumulation, full score rows) for parity tests.
    public static func reference(q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?, bias: Tensor? = nil,
                                 scale: Float) -> [Float] {
        let r = q.rank
        let n = q.shape[r - 2], d = q.shape[r - 1], m = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = ShapeMath.count(Array(q.shape.dropLast(2)))
        let kh = relH.map { $0.shape[r - 1] } ?? 0, kw = relW.map { $0.shape[r - 1] } ?? 0
        let qf = q.scalars, kf = k.scalars, vf = v.scalars
        let rh = relH?.scalars ?? [], rw = relW?.scalars ?? [], bf = bias?.scalars ?? []
        let groups = max(bf.count / max(n * m, 1), 1)
        var out = [Float](repeating: 0, count: batch * n * dv)
        var srow = [Double](repeating: 0, count: m)
        for b in 0..<batch {
            for i in 0..<n {
                for j in 0..<m {
                    var dot = 0.0
                    for c in 0..<d { dot += Double(qf[(b * n + i) * d + c]) * Double(kf[(b * m + j) * d + c]) }
                    srow[j] = Double(scale) * dot
                    if kh > 0 { srow[j] += Double(rh[(b * n + i) * kh + j / kw]) + Double(rw[(b * n + i) * kw + j % kw]) }
                    if !bf.isEmpty { srow[j] += Double(bf[((b % groups) * n + i) * m + j]) }
                }
                let top = srow.max() ?? 0
                var sum = 0.0
                for j in 0..<m { srow[j] = Foundation.exp(srow[j] - top); sum += srow[j] }
                for c in 0..<dv {
                    var acc = 0.0
                    for j in 0..<m { acc += srow[j] * Double(vf[(b * m + j) * dv + c]) }
                    out[(b * n + i) * dv + c] = Float(acc / sum)
                }
            }
        }
        return out
    }
}
