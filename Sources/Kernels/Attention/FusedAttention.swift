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
///   per key block j:   S = scale·q_tile·k_jᵀ              sgemm (alpha = scale)     [T, Mb]
///     per row n:       S += bias_n,j                       relH[n, i] + relW[n, j′] built per row
///                      m′ = max(m, max S);  P = exp(S − m′) in place;  α = exp(m − m′)
///                      l = α·l + Σ P;  O_n *= α (after the first block);  m = m′
///                      O_tile += P·v_j                     sgemm (beta 0 for the first block, then 1)
///   O_tile[n, :] *= 1/l                                    (normalising O costs dv per row, not M)
/// ```
///
/// Tasks run on `Parallel.forTasks` workers with OpenBLAS single-threaded, so each worker's
/// GEMMs stay on its core; tiles are sized to stay cache-resident between the passes, and tall
/// enough that sgemm's per-call packing of the k and v blocks is spread over many query rows.
public enum AttentionKernel {
    public typealias V = SIMD16<Float>

    /// Keys per block (a row of scores in a block stays in L1).
    nonisolated(unsafe) public static var keyBlock = 512
    /// Scores per tile: rows × block ≤ this many floats (about an L2 of scores), with at least
    /// `minRows` rows.
    nonisolated(unsafe) public static var tileBudget = 1 << 17
    nonisolated(unsafe) public static var minRows = 64

    /// Query rows per tile for N queries over M keys.
    public static func tileRows(n: Int, m: Int) -> Int {
        max(1, min(n, max(minRows, tileBudget / max(min(m, keyBlock), 1))))
    }

    public static func forward(q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?, scale: Float, _ out: Tensor) {
        let r = q.rank
        let n = q.shape[r - 2], d = q.shape[r - 1], m = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = ShapeMath.count(Array(q.shape.dropLast(2)))
        if out.count == 0 { return }
        if m == 0 {   // softmax over no keys times an empty v: zeros, as the unfused ops give
            out.ptr.update(repeating: 0, count: out.count)
            return
        }
        let kw = relW.map { $0.shape[r - 1] } ?? 0, kh = relH.map { $0.shape[r - 1] } ?? 0
        let rows = tileRows(n: n, m: m), kb = max(1, min(m, keyBlock))
        let tilesPerItem = (n + rows - 1) / rows
        let tasks = batch * tilesPerItem
        let workers = max(1, min(Parallel.threads, tasks))
        // per worker: scores [rows, kb], one bias row [kb], running max and sum [rows] each
        let per = (rows * kb + kb + 2 * rows + 15) & ~15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        let qp = UnsafePointer(q.ptr), kp = UnsafePointer(k.ptr), vp = UnsafePointer(v.ptr), op = out.ptr
        let rhp = relH.map { UnsafePointer($0.ptr) }, rwp = relW.map { UnsafePointer($0.ptr) }

        Parallel.forTasks(tasks) { task, worker in
            let b = task / tilesPerItem, t0 = (task % tilesPerItem) * rows, tr = min(rows, n - t0)
            let s = scratch + worker * per, brow = s + rows * kb, rmax = brow + kb, rsum = rmax + rows
            let row0 = b * n + t0   // first query row of the tile in the flattened [B·N] rows
            let o = op + row0 * dv
            rmax.update(repeating: -.infinity, count: tr)
            rsum.update(repeating: 0, count: tr)
            var j0 = 0
            while j0 < m {
                let mb = min(kb, m - j0)
                Gemm.sgemm(transA: false, transB: true, m: tr, n: mb, k: d, alpha: scale, a: qp + row0 * d, lda: d,
                           b: kp + (b * m + j0) * d, ldb: d, c: s, ldc: mb)
                for i in 0..<tr {
                    var bias: UnsafePointer<Float>? = nil
                    if let rhp, let rwp {
                        decomposedBias(rhp + (row0 + i) * kh, rwp + (row0 + i) * kw, kw, keys: j0..<(j0 + mb), into: brow)
                        bias = UnsafePointer(brow)
                    }
                    let old = rmax[i]
                    let sum = expRow(s + i * mb, mb, bias: bias, max: &rmax[i])
                    if j0 == 0 {
                        rsum[i] = sum
                    } else {
                        let alpha = scalarExp(old - rmax[i])
                        rsum[i] = rsum[i] * alpha + sum
                        if alpha != 1 { let oi = o + i * dv; for c in 0..<dv { oi[c] *= alpha } }
                    }
                }
                Gemm.sgemm(transA: false, transB: false, m: tr, n: dv, k: mb, a: s, lda: mb,
                           b: vp + (b * m + j0) * dv, ldb: dv, beta: j0 == 0 ? 0 : 1, c: o, ldc: dv)
                j0 += mb
            }
            for i in 0..<tr {
                let oi = o + i * dv, c = 1 / rsum[i]
                for j in 0..<dv { oi[j] *= c }
            }
        }
    }

    /// `out[t] = rh[j / kw] + rw[j % kw]` for the keys j in `keys` (part of one query's row of
    /// the decomposed relative-position bias).
    @inline(__always)
    static func decomposedBias(_ rh: UnsafePointer<Float>, _ rw: UnsafePointer<Float>, _ kw: Int, keys: Range<Int>,
                               into out: UnsafeMutablePointer<Float>) {
        var j = keys.lowerBound, dst = out
        while j < keys.upperBound {
            let c0 = j % kw, len = min(kw - c0, keys.upperBound - j), h = rh[j / kw], src = rw + c0
            for t in 0..<len { dst[t] = h + src[t] }
            dst += len
            j += len
        }
    }

    @inline(__always) static func scalarExp(_ x: Float) -> Float {
        var v = V(repeating: 0); v[0] = x
        return VMath.exp(v)[0]
    }

    /// x ← exp(x + bias − max′) in place with max′ = max(max, x + bias) (written back); returns
    /// Σ of the new x (this block's part of the softmax normaliser).
    @inline(__always)
    static func expRow(_ x: UnsafeMutablePointer<Float>, _ m: Int, bias: UnsafePointer<Float>?, max runningMax: inout Float) -> Float {
        var i = 0
        var mx = V(repeating: -.infinity)
        if let bias {
            while i + 16 <= m {
                let t = load16(x + i) + load16(bias + i)
                store16(t, x + i)
                mx = VMath.maximum(mx, t)
                i += 16
            }
            for j in i..<m { x[j] += bias[j] }
        } else {
            while i + 16 <= m { mx = VMath.maximum(mx, load16(x + i)); i += 16 }
        }
        var top = Swift.max(runningMax, mx.max())
        for j in i..<m { top = Swift.max(top, x[j]) }
        runningMax = top
        let tv = V(repeating: top)
        var acc = V(repeating: 0)
        i = 0
        while i + 16 <= m {
            let e = VMath.exp(load16(x + i) - tv)
            store16(e, x + i)
            acc += e
            i += 16
        }
        var sum = acc.sum()
        if i < m {
            var t = V(repeating: 0)
            for j in i..<m { t[j - i] = x[j] - top }
            let e = VMath.exp(t)
            for j in i..<m { x[j] = e[j - i]; sum += e[j - i] }
        }
        return sum
    }

    /// Scalar reference (Double accumulation, full score rows) for parity tests.
    public static func reference(q: Tensor, k: Tensor, v: Tensor, relH: Tensor?, relW: Tensor?, scale: Float) -> [Float] {
        let r = q.rank
        let n = q.shape[r - 2], d = q.shape[r - 1], m = k.shape[r - 2], dv = v.shape[r - 1]
        let batch = ShapeMath.count(Array(q.shape.dropLast(2)))
        let kh = relH.map { $0.shape[r - 1] } ?? 0, kw = relW.map { $0.shape[r - 1] } ?? 0
        let qf = q.scalars, kf = k.scalars, vf = v.scalars
        let rh = relH?.scalars ?? [], rw = relW?.scalars ?? []
        var out = [Float](repeating: 0, count: batch * n * dv)
        var srow = [Double](repeating: 0, count: m)
        for b in 0..<batch {
            for i in 0..<n {
                for j in 0..<m {
                    var dot = 0.0
                    for c in 0..<d { dot += Double(qf[(b * n + i) * d + c]) * Double(kf[(b * m + j) * d + c]) }
                    srow[j] = Double(scale) * dot
                    if kh > 0 { srow[j] += Double(rh[(b * n + i) * kh + j / kw]) + Double(rw[(b * n + i) * kw + j % kw]) }
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
