import CSIMD

/// C = A·Bᵀ (+ C) for batched products with a short contraction (k ≤ 32) and one side of at most
/// 8 rows: the SAM decoder's per-head scores between 7 tokens and 4096 image positions
/// ([7, 16]·[4096, 16]ᵀ and [4096, 16]·[7, 16]ᵀ, 32 heads × boxes, operands read through the
/// head-split views with row stride 128), where OpenBLAS runs at a fraction of its speed
/// (packing both sides for 16 products per element, edge kernels for 7 rows).
///
/// Algorithm: the small side S (s ≤ 8 rows) is packed transposed once per batch element into
/// Sᵀ[d][0..<8] (zero lanes past s). Each row L_l of the large side then gives its s results as
/// one 8-lane vector, Σ_d L_l[d]·Sᵀ[d] (fused multiply-adds in order d = 0..<k, which gives
/// OpenBLAS's results bit for bit on the SAM decoder) — no horizontal sums — four rows at a
/// time so each Sᵀ[d] load serves four. Rows go to an L1 tile of 64 × 8 and from there to C: row
/// by row when S is B (C[l, 0..<s], with a full 8-lane store when it only overlaps rows this task
/// writes next), column by column when S is A (C[i, l] for consecutive l).
///
/// Memory order matters more than the arithmetic: each head reads 16 floats of a 128-float row
/// through the head-split view, and walked head by head over all rows that 512-byte stride ran
/// 4× slower than a contiguous copy. So tasks are (block of 256 large rows, group of 8
/// consecutive batch elements), handed out as workers free up; inside a tile the loop is rows
/// outer, group elements inner (the heads of one operand walk its rows in address order), and
/// the rows 16 ahead are prefetched. Then the strided operand costs what a contiguous one does.
enum SmallKGemm {
    typealias V8 = SIMD8<Float>
    static let tileRows = 64
    static let block = 256
    static let group = 8
    /// rows prefetched ahead of the product loop
    static let ahead = 16

    /// Whether this path is used for one batch element of shape m×n, contraction k.
    static func applies(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        !transA && transB && k >= 1 && k <= 32 && min(m, n) <= 8 && max(m, n) >= 64
    }

    /// For every batch element b: C_b[m×n] (+)= A_b[m×k]·B_b[n×k]ᵀ, with A_b = a + offA[b] and
    /// B_b = b + offB[b] (row strides lda, ldb) and C_b = c + offC[b] (row stride ldc).
    static func run(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, offA: [Int],
                    b: UnsafePointer<Float>, ldb: Int, offB: [Int], c: UnsafeMutablePointer<Float>, offC: [Int], ldc: Int,
                    accumulate: Bool) {
        let batch = offA.count
        let smallIsA = m <= n
        let small = smallIsA ? m : n, large = smallIsA ? n : m
        let blocks = (large + block - 1) / block
        // task = (row block, group of up to 8 consecutive batch elements)
        let groups = (batch + group - 1) / group
        Parallel.forTasks(groups * blocks) { task, _ in
            let g0 = (task % groups) * group, g1 = min(batch, g0 + group), count = g1 - g0
            let l0 = (task / groups) * block, l1 = min(large, l0 + block)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: group * (k * 8 + tileRows * 8)) { buf in
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: group) { pls in
                let tiles = buf.baseAddress!, sts = tiles + group * tileRows * 8
                for bi in g0..<g1 {
                    let st = sts + (bi - g0) * k * 8
                    let ps = smallIsA ? a + offA[bi] : b + offB[bi], lds = smallIsA ? lda : ldb
                    for d in 0..<k { for i in 0..<8 { st[d * 8 + i] = i < small ? ps[i * lds + d] : 0 } }
                    pls[bi - g0] = smallIsA ? b + offB[bi] : a + offA[bi]
                }
                let ldl = smallIsA ? ldb : lda
                var t0 = l0
                while t0 < l1 {
                    let t1 = min(l1, t0 + tileRows)
                    products(pls.baseAddress!, count: count, ldl, rows: t0..<t1, k: k, sts: sts, tiles: tiles)
                    for bi in g0..<g1 {
                        let tile = tiles + (bi - g0) * tileRows * 8
                        let pc = c + offC[bi]
                        if smallIsA {
                            for i in 0..<small {
                                let row = pc + i * ldc
                                if accumulate {
                                    for r in 0..<(t1 - t0) { row[t0 + r] += tile[r * 8 + i] }
                                } else {
                                    for r in 0..<(t1 - t0) { row[t0 + r] = tile[r * 8 + i] }
                                }
                            }
                        } else {
                            for r in 0..<(t1 - t0) {
                                let l = t0 + r, row = pc + l * ldc
                                if !accumulate && (small == 8 || (ldc == small && small >= 4 && l + 1 < l1)) {
                                    // lanes past `small` land on the next row, which is written after this
                                    UnsafeMutableRawPointer(row).storeBytes(of: load8(tile + r * 8), as: V8.self)
                                } else {
                                    for j in 0..<small { row[j] = accumulate ? row[j] + tile[r * 8 + j] : tile[r * 8 + j] }
                                }
                            }
                        }
                    }
                    t0 = t1
                }
            }
            }
        }
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> V8 {
        UnsafeRawPointer(p).loadUnaligned(as: V8.self)
    }

    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> V8 {
        UnsafeRawPointer(p).loadUnaligned(as: V8.self)
    }

    /// For each group element g: tiles[g·tileRows·8 + (l − rows.lowerBound)·8 + i] =
    /// Σ_d L_g[l, d]·Sᵀ_g[d][i] for l in `rows`, with L_g = pls[g] and Sᵀ_g = sts + g·k·8. Rows
    /// are the outer loop and group elements the inner one, so heads that share rows read them
    /// in address order (the strided per-head order ran 4× slower).
    @inline(__always)
    static func products(_ pls: UnsafePointer<UnsafePointer<Float>>, count: Int, _ ldl: Int, rows: Range<Int>, k: Int,
                         sts: UnsafeMutablePointer<Float>, tiles: UnsafeMutablePointer<Float>) {
        var l = rows.lowerBound
        while l + 4 <= rows.upperBound {
            for g in 0..<count {
                let st = sts + g * k * 8
                let r0 = pls[g] + l * ldl, r1 = r0 + ldl, r2 = r1 + ldl, r3 = r2 + ldl
                if l + ahead + 4 <= rows.upperBound {
                    let p = r0 + ahead * ldl
                    samdg_prefetch(p); samdg_prefetch(p + ldl); samdg_prefetch(p + 2 * ldl); samdg_prefetch(p + 3 * ldl)
                }
                var c0 = V8(), c1 = V8(), c2 = V8(), c3 = V8()
                for d in 0..<k {
                    let s = load8(st + d * 8)
                    c0.addProduct(s, r0[d]); c1.addProduct(s, r1[d])
                    c2.addProduct(s, r2[d]); c3.addProduct(s, r3[d])
                }
                let t = tiles + g * tileRows * 8 + (l - rows.lowerBound) * 8
                UnsafeMutableRawPointer(t).storeBytes(of: c0, as: V8.self)
                UnsafeMutableRawPointer(t + 8).storeBytes(of: c1, as: V8.self)
                UnsafeMutableRawPointer(t + 16).storeBytes(of: c2, as: V8.self)
                UnsafeMutableRawPointer(t + 24).storeBytes(of: c3, as: V8.self)
            }
            l += 4
        }
        while l < rows.upperBound {
            for g in 0..<count {
                let st = sts + g * k * 8, r0 = pls[g] + l * ldl
                var c0 = V8()
                for d in 0..<k { c0.addProduct(load8(st + d * 8), r0[d]) }
                UnsafeMutableRawPointer(tiles + g * tileRows * 8 + (l - rows.lowerBound) * 8).storeBytes(of: c0, as: V8.self)
            }
            l += 1
        }
    }
}
