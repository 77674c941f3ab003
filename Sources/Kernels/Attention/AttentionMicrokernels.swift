import CSIMD

/// Register-blocked SIMD microkernels for the two products inside fused attention.
///
/// Why not sgemm: attention's products are skinny (the inner dimension of q·kᵀ is the head
/// dimension, 64 in SAM; P·v has only 64 output columns), and each query tile calls them once per
/// key block. Every call makes OpenBLAS re-pack both operands and write C back in its own layout,
/// which for K = 64 caps it near 60% of its large-GEMM rate. Here k is packed once per batch item
/// (shared by every query tile), v is used as it lies (its rows are already contiguous), and the
/// accumulators stay in registers across the whole inner loop.
///
/// ```
///   scores  S[r, j] = Σ_c q[r, c]·K̂[c, j]        8 rows × 32 keys: 16 accumulators,
///           K̂ = packed scale·kᵀ, panels of 16 keys    per c: 2 loads + 8 broadcasts + 16 FMAs
///   values  O[r, :] (+)= Σ_j P[r, j]·v[j, :]      6 rows × 64 columns: 24 accumulators,
///                                                   per j: 4 loads + 6 broadcasts + 24 FMAs
/// ```
///
/// Rows past the end of a tile are handled by pointing their loads at the last valid row and
/// their stores at a scratch row, so the microkernels never branch on the row count.
enum AttentionMicro {
    typealias V = SIMD16<Float>

    /// Keys per packed panel (one vector).
    static let panel = 16

    /// Floats a packed copy of `m` keys of dimension `d` takes (whole panels).
    static func packedCount(m: Int, d: Int) -> Int { (m + panel - 1) / panel * panel * d }

    /// Packs `k` [m, d] (row stride `ldk`) as scale·kᵀ in panels of 16 keys: panel p holds
    /// scale·k[16p + l, c] at `out[(p·d + c)·16 + l]`; lanes past m are zero. Whole panels go
    /// 16 columns at a time through a register transpose (`samdg_transpose16`).
    static func packKeys(_ k: UnsafePointer<Float>, ldk: Int, m: Int, d: Int, scale: Float, into out: UnsafeMutablePointer<Float>) {
        let panels = (m + panel - 1) / panel
        for p in 0..<panels {
            let base = out + p * d * panel, j0 = p * panel, lanes = min(panel, m - j0)
            var c0 = 0
            if lanes == panel {
                while c0 + 16 <= d {
                    samdg_transpose16(k + j0 * ldk + c0, ldk, scale, base + c0 * panel)
                    c0 += 16
                }
                if c0 == d { continue }
            } else {
                base.update(repeating: 0, count: d * panel)
            }
            for l in 0..<lanes {
                let row = k + (j0 + l) * ldk
                for c in c0..<d { base[c * panel + l] = scale * row[c] }
            }
        }
    }

    @inline(__always) static func fma(_ acc: V, _ a: V, _ b: V) -> V { acc.addingProduct(a, b) }

    /// S[r, 0..<32] = Σ_c q_r[c]·K̂[c, 0..<32] for 8 rows, from two adjacent packed panels
    /// (`k0`, `k1`, each [d][16]). `q` and `s` hold the 8 row pointers.
    @inline(__always)
    static func scores8x32(_ q: UnsafePointer<UnsafePointer<Float>>, d: Int,
                           _ k0: UnsafePointer<Float>, _ k1: UnsafePointer<Float>,
                           _ s: UnsafePointer<UnsafeMutablePointer<Float>>) {
        let q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7]
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
        var a40 = V(), a41 = V(), a50 = V(), a51 = V(), a60 = V(), a61 = V(), a70 = V(), a71 = V()
        for c in 0..<d {
            let b0 = load16(k0 + c * panel), b1 = load16(k1 + c * panel)
            var x = V(repeating: q0[c]); a00 = fma(a00, x, b0); a01 = fma(a01, x, b1)
            x = V(repeating: q1[c]); a10 = fma(a10, x, b0); a11 = fma(a11, x, b1)
            x = V(repeating: q2[c]); a20 = fma(a20, x, b0); a21 = fma(a21, x, b1)
            x = V(repeating: q3[c]); a30 = fma(a30, x, b0); a31 = fma(a31, x, b1)
            x = V(repeating: q4[c]); a40 = fma(a40, x, b0); a41 = fma(a41, x, b1)
            x = V(repeating: q5[c]); a50 = fma(a50, x, b0); a51 = fma(a51, x, b1)
            x = V(repeating: q6[c]); a60 = fma(a60, x, b0); a61 = fma(a61, x, b1)
            x = V(repeating: q7[c]); a70 = fma(a70, x, b0); a71 = fma(a71, x, b1)
        }
        store16(a00, s[0]); store16(a01, s[0] + 16)
        store16(a10, s[1]); store16(a11, s[1] + 16)
        store16(a20, s[2]); store16(a21, s[2] + 16)
        store16(a30, s[3]); store16(a31, s[3] + 16)
        store16(a40, s[4]); store16(a41, s[4] + 16)
        store16(a50, s[5]); store16(a51, s[5] + 16)
        store16(a60, s[6]); store16(a61, s[6] + 16)
        store16(a70, s[7]); store16(a71, s[7] + 16)
    }

    /// As `scores8x32` for a single packed panel of 16 keys.
    @inline(__always)
    static func scores8x16(_ q: UnsafePointer<UnsafePointer<Float>>, d: Int, _ k0: UnsafePointer<Float>,
                           _ s: UnsafePointer<UnsafeMutablePointer<Float>>) {
        let q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7]
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
        for c in 0..<d {
            let b0 = load16(k0 + c * panel)
            a0 = fma(a0, V(repeating: q0[c]), b0); a1 = fma(a1, V(repeating: q1[c]), b0)
            a2 = fma(a2, V(repeating: q2[c]), b0); a3 = fma(a3, V(repeating: q3[c]), b0)
            a4 = fma(a4, V(repeating: q4[c]), b0); a5 = fma(a5, V(repeating: q5[c]), b0)
            a6 = fma(a6, V(repeating: q6[c]), b0); a7 = fma(a7, V(repeating: q7[c]), b0)
        }
        store16(a0, s[0]); store16(a1, s[1]); store16(a2, s[2]); store16(a3, s[3])
        store16(a4, s[4]); store16(a5, s[5]); store16(a6, s[6]); store16(a7, s[7])
    }

    /// The `count` row pointers of a microkernel call starting at row `r0` of a `rows`-row tile:
    /// reads clamp to the last row, writes past it go to `scratch` (so the kernels never branch
    /// on the row count); writes start at `column`.
    @inline(__always)
    static func rowPointers(_ count: Int, from r0: Int, rows: Int,
                            read: UnsafePointer<Float>, ldRead: Int, into readRows: UnsafeMutablePointer<UnsafePointer<Float>>,
                            write: UnsafeMutablePointer<Float>, ldWrite: Int, scratch: UnsafeMutablePointer<Float>, column: Int,
                            into writeRows: UnsafeMutablePointer<UnsafeMutablePointer<Float>>) {
        for i in 0..<count {
            let r = r0 + i
            readRows[i] = read + min(r, rows - 1) * ldRead
            writeRows[i] = (r < rows ? write + r * ldWrite : scratch) + column
        }
    }

    /// S tile [rows, panels·16] (row stride `lds`) = q rows [rows, d] (stride `ldq`) · K̂ panels.
    /// `rowScratch` is one spare row of `lds` floats that absorbs the stores of padding rows.
    static func scores(q: UnsafePointer<Float>, ldq: Int, rows: Int, d: Int, packed: UnsafePointer<Float>, panels: Int,
                       s: UnsafeMutablePointer<Float>, lds: Int, rowScratch: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 8) { qr in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 8) { sr in
                let qb = qr.baseAddress!, sb = sr.baseAddress!
                var p = 0
                while p < panels {
                    let two = p + 1 < panels
                    var r0 = 0
                    while r0 < rows {
                        rowPointers(8, from: r0, rows: rows, read: q, ldRead: ldq, into: qb,
                                    write: s, ldWrite: lds, scratch: rowScratch, column: p * panel, into: sb)
                        let k0 = packed + p * d * panel
                        if two { scores8x32(qb, d: d, k0, k0 + d * panel, sb) } else { scores8x16(qb, d: d, k0, sb) }
                        r0 += 8
                    }
                    p += two ? 2 : 1
                }
            }
        }
    }

    /// O rows (+)= P rows · v for 6 rows and 64 columns starting at `col`; `first` starts from 0
    /// instead of the current O.
    @inline(__always)
    static func values6x64(_ p: UnsafePointer<UnsafePointer<Float>>, keys: Int, _ v: UnsafePointer<Float>, ldv: Int,
                           _ o: UnsafePointer<UnsafeMutablePointer<Float>>, first: Bool) {
        let p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], p4 = p[4], p5 = p[5]
        let o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5]
        var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()
        var a40 = V(), a41 = V(), a42 = V(), a43 = V(), a50 = V(), a51 = V(), a52 = V(), a53 = V()
        if !first {
            a00 = load16(o0); a01 = load16(o0 + 16); a02 = load16(o0 + 32); a03 = load16(o0 + 48)
            a10 = load16(o1); a11 = load16(o1 + 16); a12 = load16(o1 + 32); a13 = load16(o1 + 48)
            a20 = load16(o2); a21 = load16(o2 + 16); a22 = load16(o2 + 32); a23 = load16(o2 + 48)
            a30 = load16(o3); a31 = load16(o3 + 16); a32 = load16(o3 + 32); a33 = load16(o3 + 48)
            a40 = load16(o4); a41 = load16(o4 + 16); a42 = load16(o4 + 32); a43 = load16(o4 + 48)
            a50 = load16(o5); a51 = load16(o5 + 16); a52 = load16(o5 + 32); a53 = load16(o5 + 48)
        }
        var vr = v
        for j in 0..<keys {
            let b0 = load16(vr), b1 = load16(vr + 16), b2 = load16(vr + 32), b3 = load16(vr + 48)
            var x = V(repeating: p0[j]); a00 = fma(a00, x, b0); a01 = fma(a01, x, b1); a02 = fma(a02, x, b2); a03 = fma(a03, x, b3)
            x = V(repeating: p1[j]); a10 = fma(a10, x, b0); a11 = fma(a11, x, b1); a12 = fma(a12, x, b2); a13 = fma(a13, x, b3)
            x = V(repeating: p2[j]); a20 = fma(a20, x, b0); a21 = fma(a21, x, b1); a22 = fma(a22, x, b2); a23 = fma(a23, x, b3)
            x = V(repeating: p3[j]); a30 = fma(a30, x, b0); a31 = fma(a31, x, b1); a32 = fma(a32, x, b2); a33 = fma(a33, x, b3)
            x = V(repeating: p4[j]); a40 = fma(a40, x, b0); a41 = fma(a41, x, b1); a42 = fma(a42, x, b2); a43 = fma(a43, x, b3)
            x = V(repeating: p5[j]); a50 = fma(a50, x, b0); a51 = fma(a51, x, b1); a52 = fma(a52, x, b2); a53 = fma(a53, x, b3)
            vr += ldv
        }
        store16(a00, o0); store16(a01, o0 + 16); store16(a02, o0 + 32); store16(a03, o0 + 48)
        store16(a10, o1); store16(a11, o1 + 16); store16(a12, o1 + 32); store16(a13, o1 + 48)
        store16(a20, o2); store16(a21, o2 + 16); store16(a22, o2 + 32); store16(a23, o2 + 48)
        store16(a30, o3); store16(a31, o3 + 16); store16(a32, o3 + 32); store16(a33, o3 + 48)
        store16(a40, o4); store16(a41, o4 + 16); store16(a42, o4 + 32); store16(a43, o4 + 48)
        store16(a50, o5); store16(a51, o5 + 16); store16(a52, o5 + 32); store16(a53, o5 + 48)
    }

    /// As `values6x64` for 32 columns (TinyViT's and the mask decoder's head size).
    @inline(__always)
    static func values6x32(_ p: UnsafePointer<UnsafePointer<Float>>, keys: Int, _ v: UnsafePointer<Float>, ldv: Int,
                           _ o: UnsafePointer<UnsafeMutablePointer<Float>>, first: Bool) {
        let p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], p4 = p[4], p5 = p[5]
        let o0 = o[0], o1 = o[1], o2 = o[2], o3 = o[3], o4 = o[4], o5 = o[5]
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V()
        var a30 = V(), a31 = V(), a40 = V(), a41 = V(), a50 = V(), a51 = V()
        if !first {
            a00 = load16(o0); a01 = load16(o0 + 16); a10 = load16(o1); a11 = load16(o1 + 16)
            a20 = load16(o2); a21 = load16(o2 + 16); a30 = load16(o3); a31 = load16(o3 + 16)
            a40 = load16(o4); a41 = load16(o4 + 16); a50 = load16(o5); a51 = load16(o5 + 16)
        }
        var vr = v
        for j in 0..<keys {
            let b0 = load16(vr), b1 = load16(vr + 16)
            var x = V(repeating: p0[j]); a00 = fma(a00, x, b0); a01 = fma(a01, x, b1)
            x = V(repeating: p1[j]); a10 = fma(a10, x, b0); a11 = fma(a11, x, b1)
            x = V(repeating: p2[j]); a20 = fma(a20, x, b0); a21 = fma(a21, x, b1)
            x = V(repeating: p3[j]); a30 = fma(a30, x, b0); a31 = fma(a31, x, b1)
            x = V(repeating: p4[j]); a40 = fma(a40, x, b0); a41 = fma(a41, x, b1)
            x = V(repeating: p5[j]); a50 = fma(a50, x, b0); a51 = fma(a51, x, b1)
            vr += ldv
        }
        store16(a00, o0); store16(a01, o0 + 16); store16(a10, o1); store16(a11, o1 + 16)
        store16(a20, o2); store16(a21, o2 + 16); store16(a30, o3); store16(a31, o3 + 16)
        store16(a40, o4); store16(a41, o4 + 16); store16(a50, o5); store16(a51, o5 + 16)
    }

    /// As `values6x64` for 16 columns (the remainder when dv is not a multiple of 32).
    @inline(__always)
    static func values6x16(_ p: UnsafePointer<UnsafePointer<Float>>, keys: Int, _ v: UnsafePointer<Float>, ldv: Int,
                           _ o: UnsafePointer<UnsafeMutablePointer<Float>>, first: Bool) {
        let p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], p4 = p[4], p5 = p[5]
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V()
        if !first { a0 = load16(o[0]); a1 = load16(o[1]); a2 = load16(o[2]); a3 = load16(o[3]); a4 = load16(o[4]); a5 = load16(o[5]) }
        var vr = v
        for j in 0..<keys {
            let b = load16(vr)
            a0 = fma(a0, V(repeating: p0[j]), b); a1 = fma(a1, V(repeating: p1[j]), b)
            a2 = fma(a2, V(repeating: p2[j]), b); a3 = fma(a3, V(repeating: p3[j]), b)
            a4 = fma(a4, V(repeating: p4[j]), b); a5 = fma(a5, V(repeating: p5[j]), b)
            vr += ldv
        }
        store16(a0, o[0]); store16(a1, o[1]); store16(a2, o[2]); store16(a3, o[3]); store16(a4, o[4]); store16(a5, o[5])
    }

    /// O tile [rows, dv] (row stride `ldo`) (+)= P tile [rows, keys] (row stride `ldp`) · v [keys, dv]
    /// (row stride `ldv`). dv must be a multiple of 16. `rowScratch` holds one spare row of dv floats.
    static func values(p: UnsafePointer<Float>, ldp: Int, rows: Int, keys: Int, v: UnsafePointer<Float>, ldv: Int, dv: Int,
                       o: UnsafeMutablePointer<Float>, ldo: Int, first: Bool, rowScratch: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 6) { pr in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>.self, capacity: 6) { orr in
                let pb = pr.baseAddress!, ob = orr.baseAddress!
                var r0 = 0
                while r0 < rows {
                    var col = 0
                    while col < dv {
                        rowPointers(6, from: r0, rows: rows, read: p, ldRead: ldp, into: pb,
                                    write: o, ldWrite: ldo, scratch: rowScratch, column: col, into: ob)
                        if col + 64 <= dv {
                            values6x64(pb, keys: keys, v + col, ldv: ldv, ob, first: first)
                            col += 64
                        } else if col + 32 <= dv {
                            values6x32(pb, keys: keys, v + col, ldv: ldv, ob, first: first)
                            col += 32
                        } else {
                            values6x16(pb, keys: keys, v + col, ldv: ldv, ob, first: first)
                            col += 16
                        }
                    }
                    r0 += 6
                }
            }
        }
    }
}
