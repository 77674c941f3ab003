import CSIMD

/// C = op(A)·B (+ C) for batched products with at most 8 result rows, 16 result columns and a
/// long contraction: the SAM decoder's per-head value products between 7 tokens and 4096 image
/// positions ([7, 4096]·[4096, 16] and [4096, 7]ᵀ·[4096, 16], 32 heads × boxes, B read through
/// the head-split view with row stride 128), where OpenBLAS packs a 4096-row panel for 7×16
/// results.
///
/// Algorithm: the 16 columns of a row of B are one SIMD16 vector b_l, and result row i is
/// Σ_l A(i, l)·b_l: per l one load of b_l and, for each of the (up to) 8 rows, a fused
/// multiply-add with the broadcast scalar A(i, l), in order l = 0..<k, eight accumulators in
/// registers (rows past m read a zero with stride 0). A(i, l) is a[i·lda + l] or, transposed,
/// a[l·lda + i]. One task per batch element, handed out as workers free up; the rows of B 16
/// ahead are prefetched (a head reads 64 bytes of each 512-byte row, a stride the hardware
/// prefetcher does not follow; see `SmallKGemm`).
enum SmallMGemm {
    typealias V = SIMD16<Float>
    static let ahead = 16

    /// Whether this path is used for one batch element of shape m×n, contraction k.
    static func applies(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        !transB && n == 16 && m >= 1 && m <= 8 && k >= 64
    }

    /// For every batch element b: C_b[m×16] (+)= op(A_b)·B_b[k×16], A_b = a + offA[b] (row
    /// stride lda; op transposes it when `transA`), B_b = b + offB[b] (row stride ldb),
    /// C_b = c + offC[b] (row stride ldc).
    static func run(m: Int, k: Int, transA: Bool, a: UnsafePointer<Float>, lda: Int, offA: [Int],
                    b: UnsafePointer<Float>, ldb: Int, offB: [Int], c: UnsafeMutablePointer<Float>, offC: [Int], ldc: Int,
                    accumulate: Bool) {
        Parallel.forTasks(offA.count) { bi, _ in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 1) { zero in
                zero[0] = 0
                let z = UnsafePointer(zero.baseAddress!)
                let pa = a + offA[bi], pb = b + offB[bi]
                // row i of op(A) as (first element, step along l); rows past m read the zero
                let step = transA ? lda : 1
                func row(_ i: Int) -> (UnsafePointer<Float>, Int) {
                    i < m ? (pa + (transA ? i : i * lda), step) : (z, 0)
                }
                let (p0, s0) = row(0), (p1, s1) = row(1), (p2, s2) = row(2), (p3, s3) = row(3)
                let (p4, s4) = row(4), (p5, s5) = row(5), (p6, s6) = row(6), (p7, s7) = row(7)
                var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V(), c7 = V()
                for l in 0..<k {
                    if l + ahead < k { samdg_prefetch(pb + (l + ahead) * ldb) }
                    let v = load16(pb + l * ldb)
                    c0.addProduct(v, p0[l * s0]); c1.addProduct(v, p1[l * s1])
                    c2.addProduct(v, p2[l * s2]); c3.addProduct(v, p3[l * s3])
                    c4.addProduct(v, p4[l * s4]); c5.addProduct(v, p5[l * s5])
                    c6.addProduct(v, p6[l * s6]); c7.addProduct(v, p7[l * s7])
                }
                let pc = c + offC[bi]
                let rows = [c0, c1, c2, c3, c4, c5, c6, c7]
                for i in 0..<m {
                    let out = pc + i * ldc
                    store16(accumulate ? load16(UnsafePointer(out)) + rows[i] : rows[i], out)
                }
            }
        }
    }
}
