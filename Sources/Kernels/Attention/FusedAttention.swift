import Foundation
import Tensor

/// Fused attention: `out = softmax(scale·q·kᵀ + bias)·v` per batch item, with the optional
/// decomposed relative-position bias of SAM's ViT, `bias[n, i·kw + j] = relH[n, i] + relW[n, j]`.
///
/// Shapes (equal leading batch dims, flattened to B): q [B, N, d], k [B, M, d], v [B, M, dv],
/// relH [B, N, kh], relW [B, N, kw] with kh·kw = M; out [B, N, dv].
///
/// Algorithm (one task per batch item and tile of `tileRows` queries, never N×M per head):
///
/// ```
///   S  = scale·q_tile·kᵀ          sgemm (alpha = scale)            [T, M]  in per-worker scratch
///   per row n:  S += bias_n        bias_n built once per row in L1 (relH[n, i] + relW[n, j])
///               m = max S;  P = exp(S − m);  l = Σ P     (P stays unnormalised, in place)
///   O_tile = P·v                   sgemm, straight into out         [T, dv]
///   O_tile[n, :] *= 1/l            (normalising O costs dv per row instead of M)
/// ```
///
/// Tasks run on `Parallel.forTasks` workers with OpenBLAS single-threaded, so each worker's
/// GEMMs stay on its core; the tile is sized to stay cache-resident between the three passes.
public enum AttentionKernel {
    public typealias V = SIMD16<Float>

    /// Scores per tile: rows × M ≤ this many floats (about an L2 of scores), with at least
    /// `minRows` rows so the GEMMs keep their efficiency on long key axes.
    nonisolated(unsafe) public static var tileBudget = 1 << 18
    nonisolated(unsafe) public static var minRows = 64

    /// Query rows per tile for N queries over M keys.
    public static func tileRows(n: Int, m: Int) -> Int {
        max(1, min(n, max(minRows, tileBudget / max(m, 1))))
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
        let kh = relH.map { $0.shape[r - 1] } ?? 0, kw = relW.map { $0.shape[r - 1] } ?? 0
        let rows = tileRows(n: n, m: m)
        let tilesPerItem = (n + rows - 1) / rows
        let tasks = batch * tilesPerItem
        let workers = max(1, min(Parallel.threads, tasks))
        // per worker: scores [rows, M], one bias row [M], row normalisers [rows]
        let per = (rows * m + m + rows + 15) & ~15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        let qp = UnsafePointer(q.ptr), kp = UnsafePointer(k.ptr), vp = UnsafePointer(v.ptr), op = out.ptr
        let rhp = relH.map { UnsafePointer($0.ptr) }, rwp = relW.map { UnsafePointer($0.ptr) }

        Parallel.forTasks(tasks) { task, worker in
            let b = task / tilesPerItem, t0 = (task % tilesPerItem) * rows, tr = min(rows, n - t0)
            let s = scratch + worker * per, brow = s + rows * m, inv = brow + m
            let row0 = b * n + t0   // first query row of the tile in the flattened [B·N] rows
            Gemm.sgemm(transA: false, transB: true, m: tr, n: m, k: d, alpha: scale, a: qp + row0 * d, lda: d,
                       b: kp + b * m * d, ldb: d, c: s, ldc: m)
            for i in 0..<tr {
                let x = s + i * m
                var bias: UnsafePointer<Float>? = nil
                if let rhp, let rwp {
                    decomposedBiasRow(rhp + (row0 + i) * kh, kh, rwp + (row0 + i) * kw, kw, into: brow)
                    bias = UnsafePointer(brow)
                }
                inv[i] = 1 / expRow(x, m, bias: bias)
            }
            let o = op + row0 * dv
            Gemm.sgemm(transA: false, transB: false, m: tr, n: dv, k: m, a: s, lda: m,
                       b: vp + b * m * dv, ldb: dv, c: o, ldc: dv)
            for i in 0..<tr {
                let oi = o + i * dv, c = inv[i]
                for j in 0..<dv { oi[j] *= c }
            }
        }
    }

    /// `out[i·kw + j] = rh[i] + rw[j]` (one row of the decomposed relative-position bias).
    @inline(__always)
    static func decomposedBiasRow(_ rh: UnsafePointer<Float>, _ kh: Int, _ rw: UnsafePointer<Float>, _ kw: Int,
                                  into out: UnsafeMutablePointer<Float>) {
        for i in 0..<kh {
            let h = rh[i], dst = out + i * kw
            for j in 0..<kw { dst[j] = h + rw[j] }
        }
    }

    /// x ← exp(x + bias − max) in place; returns Σ of the new x (the softmax normaliser).
    @inline(__always)
    static func expRow(_ x: UnsafeMutablePointer<Float>, _ m: Int, bias: UnsafePointer<Float>?) -> Float {
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
        var top = mx.max()
        for j in i..<m { top = max(top, x[j]) }
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
