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

    /// Query rows per tile for N queries over M keys: a whole item when its scores take at most
    /// 4 tile budgets (SAM's 14×14 windows: one task per window and head, keys packed inside it).
    public static func tileRows(n: Int, m: Int) -> Int {
        let block = max(min(m, keyBlock), 1)
        if n * block <= 4 * tileBudget { return max(n, 1) }
        return max(1, min(n, max(minRows, tileBudget / block)))
    }

    /// `bias` (exclusive with relH/relW): an additive logit bias [G, N, M] (flattened) where
    /// batch item b uses bias item b mod G (`ShapeMath.suffixBroadcastGroups`).
    public static func forward(q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?, bias full: Tensor? = nil,
                               scale: Float, _ out: Tensor) {
        let r = q.rank
        let n = q.shape[r - 2], d = q.shape[r - 1], m = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = ShapeMath.count(Array(q.shape.dropLast(2)))
        let geometry = Geometry(batch: batch, n: n, m: m, d: d, dv: dv,
                                kh: relH.map { $0.shape[r - 1] } ?? 0, kw: relW.map { $0.shape[r - 1] } ?? 0, scale: scale,
                                groups: full.map { $0.count / max(n * m, 1) } ?? 0)
        let bias: Bias
        if let h = relH, let w = relW { bias = .decomposed(UnsafePointer(h.ptr), UnsafePointer(w.ptr)) }
        else if let full { bias = .full(UnsafePointer(full.ptr)) }
        else { bias = .none }
        run(geometry, q: Operand(q.ptr, .contiguous(items: batch, rows: n, columns: d)),
            k: Operand(k.ptr, .contiguous(items: batch, rows: m, columns: d)),
            v: Operand(v.ptr, .contiguous(items: batch, rows: m, columns: dv)),
            bias: bias, out: out.ptr, outLayout: .contiguous(items: batch, rows: n, columns: dv))
    }

    /// Attention on strided operands (`AttentionSpec`): q, k and v read in place from the
    /// tensors `q`, `k`, `v` (often one qkv tensor three times), the result written through
    /// `spec.out` into `out`. With `spec.relGrid` = [qh, qw], `relH` / `relW` are the
    /// relative-position tables [qh, kh, d] / [qw, kw, d], and the decomposed bias is computed
    /// per query tile: relH[n, i] = q_n·tableH[n / qw, i], relW[n, j] = q_n·tableW[n % qw, j].
    /// Otherwise `bias` is an optional full additive bias, as in `forward(q:k:v:…)`.
    public static func forward(_ spec: AttentionSpec, q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?,
                               bias full: Tensor? = nil, _ out: Tensor) {
        var kh = 0, kw = 0
        let bias: Bias
        var tables: UnsafeMutablePointer<Float>? = nil
        defer { tables?.deallocate() }
        if spec.relGrid.count == 2, let h = relH, let w = relW {
            kh = h.shape[1]; kw = w.shape[1]
            let (qh, qw, d) = (spec.relGrid[0], spec.relGrid[1], spec.d)
            let khp = (kh + 15) / 16 * 16, kwp = (kw + 15) / 16 * 16
            let t = UnsafeMutablePointer<Float>.allocate(capacity: (qh * khp + qw * kwp) * d)
            tables = t
            transposeTable(h.ptr, q: qh, k: kh, d: d, into: t)
            transposeTable(w.ptr, q: qw, k: kw, d: d, into: t + qh * khp * d)
            bias = .tables(UnsafePointer(t), UnsafePointer(t + qh * khp * d), qw: qw)
        } else if let full {
            bias = .full(UnsafePointer(full.ptr))
        } else {
            bias = .none
        }
        let g = Geometry(batch: spec.batch, n: spec.n, m: spec.m, d: spec.d, dv: spec.dv, kh: kh, kw: kw,
                         scale: spec.scale, groups: full.map { $0.count / max(spec.n * spec.m, 1) } ?? 0)
        run(g, q: Operand(q.ptr, spec.q), k: Operand(k.ptr, spec.k), v: Operand(v.ptr, spec.v),
            bias: bias, out: out.ptr, outLayout: spec.out)
    }

    /// A relative-position table [q, k, d] as [q, d, kp] (kp = k rounded up to whole vectors,
    /// the extra lanes zero): one query's k dot products become d vector FMAs per 16 lanes.
    static func transposeTable(_ t: UnsafePointer<Float>, q: Int, k: Int, d: Int, into out: UnsafeMutablePointer<Float>) {
        let kp = (k + 15) / 16 * 16
        out.update(repeating: 0, count: q * d * kp)
        for y in 0..<q {
            for i in 0..<k {
                let src = t + (y * k + i) * d, dst = out + y * d * kp + i
                for c in 0..<d { dst[c * kp] = src[c] }
            }
        }
    }

    /// An operand in place: its tensor's first float and where each batch item's rows lie.
    struct Operand {
        let ptr: UnsafePointer<Float>
        let layout: AttentionOperandLayout
        init(_ p: UnsafeMutablePointer<Float>, _ l: AttentionOperandLayout) { ptr = UnsafePointer(p); layout = l }
        /// row `row` of batch item `item`
        @inline(__always) func row(_ item: Int, _ row: Int) -> UnsafePointer<Float> {
            ptr + layout.base(item) + row * layout.rowStride
        }
        var ld: Int { layout.rowStride }
    }

    static func run(_ g: Geometry, q: Operand, k: Operand, v: Operand, bias: Bias,
                    out: UnsafeMutablePointer<Float>, outLayout: AttentionOperandLayout) {
        if g.batch * g.n * g.dv == 0 { return }
        if g.m == 0 {   // softmax over no keys times an empty v: zeros, as the unfused ops give
            for b in 0..<g.batch {
                for r in 0..<g.n { (out + outLayout.base(b) + r * outLayout.rowStride).update(repeating: 0, count: g.dv) }
            }
            return
        }
        if g.dv % AttentionMicro.panel == 0 && g.d > 0 {
            forwardMicro(g, q: q, k: k, v: v, bias: bias, out: out, outLayout: outLayout)
        } else {
            forwardBLAS(g, q: q, k: k, v: v, bias: bias, out: out, outLayout: outLayout)
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
        /// SAM's relative position from its tables [qh, kh, d], [qw, kw, d] (query grid qh × qw),
        /// computed per tile from q
        case tables(UnsafePointer<Float>, UnsafePointer<Float>, qw: Int)
    }

    /// The microkernel path (dv a multiple of 16): k packed once per batch item, both products in
    /// registers (`AttentionMicro`). When an item is one tile, its task packs k into the worker's
    /// scratch (hot in cache for the products right after); otherwise all items are packed first.
    static func forwardMicro(_ g: Geometry, q: Operand, k: Operand, v: Operand, bias: Bias,
                             out: UnsafeMutablePointer<Float>, outLayout: AttentionOperandLayout) {
        let (m, d, dv) = (g.m, g.d, g.dv)
        let packedPer = AttentionMicro.packedCount(m: m, d: d)
        let perTask = tileRows(n: g.n, m: m) >= g.n
        let copies = perTask ? max(Parallel.threads, 1) : g.batch
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedPer * copies)
        defer { packed.deallocate() }
        // v rows far apart (read in place from a qkv projection): copied next to each other first,
        // so the value product's per-key row reads stay on few pages
        let stageV = v.ld != dv
        let vPer = m * dv
        let vCopy = UnsafeMutablePointer<Float>.allocate(capacity: stageV ? vPer * copies : 0)
        defer { vCopy.deallocate() }
        func pack(_ b: Int, into slot: Int) {
            AttentionMicro.packKeys(k.row(b, 0), ldk: k.ld, m: m, d: d, scale: g.scale * log2e, into: packed + slot * packedPer)
            if stageV {
                let dst = vCopy + slot * vPer
                for j in 0..<m { (dst + j * dv).update(from: v.row(b, j), count: dv) }
            }
        }
        if !perTask { Parallel.forTasks(g.batch) { b, _ in pack(b, into: b) } }
        let kb = min((max(keyBlock, 1) + 15) / 16 * 16, (m + 15) / 16 * 16)    // whole panels
        tiles(g, q: q, keyBlock: kb, spare: max(kb, dv), bias: bias, out: out, outLayout: outLayout, lds: { _ in kb },
              prepare: perTask ? { b, worker in pack(b, into: worker) } : nil,
              scores: { t, s, spare in
                  let kp = packed + (perTask ? t.worker : t.item) * packedPer + t.j0 * d
                  AttentionMicro.scores(q: t.q, ldq: t.ldq, rows: t.rows, d: d, packed: kp,
                                        panels: (t.mb + 15) / 16, s: s, lds: kb, rowScratch: spare)
              },
              values: { t, s, o, spare in
                  let vr = stageV ? UnsafePointer(vCopy + (perTask ? t.worker : t.item) * vPer + t.j0 * dv) : v.row(t.item, t.j0)
                  AttentionMicro.values(p: s, ldp: kb, rows: t.rows, keys: t.mb, v: vr, ldv: stageV ? dv : v.ld, dv: dv,
                                        o: o, ldo: t.ldo, first: t.j0 == 0, rowScratch: spare)
              })
    }

    /// The general path: both products through single-threaded sgemm per query tile.
    static func forwardBLAS(_ g: Geometry, q: Operand, k: Operand, v: Operand, bias: Bias,
                            out: UnsafeMutablePointer<Float>, outLayout: AttentionOperandLayout) {
        let (m, d, dv) = (g.m, g.d, g.dv)
        tiles(g, q: q, keyBlock: max(1, min(m, keyBlock)), spare: 0, bias: bias, out: out, outLayout: outLayout, lds: { $0 },
              scores: { t, s, _ in
                  Gemm.sgemm(transA: false, transB: true, m: t.rows, n: t.mb, k: d, alpha: g.scale * log2e,
                             a: t.q, lda: t.ldq, b: k.row(t.item, t.j0), ldb: k.ld, c: s, ldc: t.mb)
              },
              values: { t, s, o, _ in
                  Gemm.sgemm(transA: false, transB: false, m: t.rows, n: dv, k: t.mb, a: s, lda: t.mb,
                             b: v.row(t.item, t.j0), ldb: v.ld, beta: t.j0 == 0 ? 0 : 1, c: o, ldc: t.ldo)
              })
    }

    /// One key block of one query tile: batch item, first query row of the tile (within the
    /// item), row count, first key and key count.
    struct Block {
        let item, t0, rows, j0, mb, worker: Int
        /// the tile's query rows and the output tile (in place, or staged in scratch)
        let q: UnsafePointer<Float>, ldq: Int, ldo: Int
    }

    /// The online-softmax driver both paths share. Tasks are (batch item, tile of `tileRows`
    /// queries), each starting with `prepare(item, worker)` if given; per key block of `kb`, `scores` writes the logits S (row stride `lds(mb)`), the
    /// softmax step runs per row (`softmaxRow`), and `values` accumulates P·v into the tile's O.
    /// Per worker scratch: S [rows, kb], a bias row [kb + 16], `spare` floats for the products,
    /// the running max and sum [rows], and with relative-position tables the tile's relH / relW
    /// rows [rows, khp + kwp] (kh, kw rounded up to whole vectors).
    static func tiles(_ g: Geometry, q: Operand, keyBlock kb: Int, spare: Int, bias: Bias, out: UnsafeMutablePointer<Float>,
                      outLayout: AttentionOperandLayout,
                      lds: (Int) -> Int, prepare: ((_ item: Int, _ worker: Int) -> Void)? = nil,
                      scores: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                      values: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let (n, m, dv) = (g.n, g.m, g.dv)
        let rows = tileRows(n: n, m: m)
        let tilesPerItem = (n + rows - 1) / rows
        let tasks = g.batch * tilesPerItem
        let workers = max(1, min(Parallel.threads, tasks))
        var tableFloats = 0
        let khp = (g.kh + 15) / 16 * 16, kwp = (g.kw + 15) / 16 * 16
        if case .tables = bias { tableFloats = rows * (khp + kwp) }
        // strided q rows and output rows (far apart in a qkv projection or a heads-merged result)
        // are staged through contiguous tiles in scratch
        let stageQ = q.ld != g.d, stageO = outLayout.rowStride != dv
        let qFloats = stageQ ? rows * g.d : 0, oFloats = stageO ? rows * dv : 0
        let per = (rows * kb + kb + 16 + spare + 2 * rows + tableFloats + qFloats + oFloats + 15) & ~15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        let ldOut = outLayout.rowStride
        Parallel.forTasks(tasks) { task, worker in
            let b = task / tilesPerItem, t0 = (task % tilesPerItem) * rows, tr = min(rows, n - t0)
            let s = scratch + worker * per, brow = s + rows * kb, extra = brow + kb + 16
            let rmax = extra + spare, rsum = rmax + rows, tab = rsum + rows, qbuf = tab + tableFloats, obuf = qbuf + qFloats
            let dst = out + outLayout.base(b) + t0 * ldOut
            let o = stageO ? obuf : dst, ldo = stageO ? dv : ldOut
            var qt = q.row(b, t0), ldq = q.ld
            if stageQ {
                for r in 0..<tr { (qbuf + r * g.d).update(from: q.row(b, t0 + r), count: g.d) }
                qt = UnsafePointer(qbuf); ldq = g.d
            }
            prepare?(b, worker)
            if case .tables(let th, let tw, let qw) = bias {
                relativeRows(q: qt, ldq: ldq, rows: tr, firstQuery: t0, d: g.d, th, kh: g.kh, tw, kw: g.kw, qw: qw,
                             h: tab, w: tab + tr * khp)
            }
            rmax.update(repeating: -.infinity, count: tr)
            rsum.update(repeating: 0, count: tr)
            var j0 = 0
            while j0 < m {
                let mb = min(kb, m - j0), ld = lds(mb)
                let block = Block(item: b, t0: t0, rows: tr, j0: j0, mb: mb, worker: worker, q: qt, ldq: ldq, ldo: ldo)
                scores(block, s, extra)
                for i in 0..<tr {
                    let rb: RowBias
                    switch bias {
                    case .none: rb = .none
                    case .full(let base): rb = .full(base + ((b % g.groups) * n + t0 + i) * m)
                    case .decomposed(let rh, let rw):
                        let row = b * n + t0 + i
                        rb = .grid(rh + row * g.kh, rw + row * g.kw, wide: 16 <= (g.batch * n - row) * g.kw)
                    case .tables:
                        rb = .grid(UnsafePointer(tab + i * khp), UnsafePointer(tab + tr * khp + i * kwp), wide: true)
                    }
                    softmaxRow(g, s + i * ld, keys: j0..<(j0 + mb), bias: rb, brow: brow,
                               rmax: &rmax[i], rsum: &rsum[i], o: o + i * ldo)
                }
                values(block, s, o, extra)
                j0 += mb
            }
            normalise(o, ldo, into: dst, ldOut, rows: tr, dv: dv, sums: rsum)
        }
    }

    /// The decomposed relative-position bias of `rows` consecutive queries (from `firstQuery`
    /// of a qh × qw grid): h[r, i] = q_r·th[y, i], w[r, j] = q_r·tw[x, j] with y, x the query's
    /// grid row and column; th, tw transposed (`transposeTable`: [qh, d, khp], [qw, d, kwp]);
    /// h and w rows khp and kwp floats apart.
    static func relativeRows(q: UnsafePointer<Float>, ldq: Int, rows: Int, firstQuery: Int, d: Int,
                             _ th: UnsafePointer<Float>, kh: Int, _ tw: UnsafePointer<Float>, kw: Int, qw: Int,
                             h: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>) {
        let khp = (kh + 15) / 16 * 16, kwp = (kw + 15) / 16 * 16
        for r in 0..<rows {
            let qr = q + r * ldq, n = firstQuery + r, y = n / qw, x = n % qw
            project(qr, d: d, th + y * d * khp, lanes: khp, into: h + r * khp)
            project(qr, d: d, tw + x * d * kwp, lanes: kwp, into: w + r * kwp)
        }
    }

    /// out[0..<lanes] = Σ_c q[c]·t[c, 0..<lanes] (t rows `lanes` floats apart, lanes a multiple of 16).
    @inline(__always)
    static func project(_ q: UnsafePointer<Float>, d: Int, _ t: UnsafePointer<Float>, lanes: Int, into out: UnsafeMutablePointer<Float>) {
        var g = 0
        while g + 32 <= lanes {
            var a0 = V(), a1 = V()
            for c in 0..<d {
                let x = V(repeating: q[c]), row = t + c * lanes + g
                a0 = a0.addingProduct(x, load16(row)); a1 = a1.addingProduct(x, load16(row + 16))
            }
            store16(a0, out + g); store16(a1, out + g + 16)
            g += 32
        }
        if g < lanes {
            var a0 = V()
            for c in 0..<d { a0 = a0.addingProduct(V(repeating: q[c]), load16(t + c * lanes + g)) }
            store16(a0, out + g)
        }
    }

    /// dst[i, :] = O[i, :] / l_i (normalising O costs dv per row, not M); O and dst may be the same rows.
    @inline(__always)
    static func normalise(_ o: UnsafeMutablePointer<Float>, _ ldo: Int, into dst: UnsafeMutablePointer<Float>, _ ldd: Int,
                          rows: Int, dv: Int, sums: UnsafePointer<Float>) {
        for i in 0..<rows {
            let oi = o + i * ldo, di = dst + i * ldd, c = 1 / sums[i]
            for j in 0..<dv { di[j] = oi[j] * c }
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
