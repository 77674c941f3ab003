import CSIMD
import Foundation
import Primitives

/// C[m×n] = f(C + A·Bᵀ) (or f(A·Bᵀ)) for a linear layer: A [m×k] the activations (rows of
/// stride lda, m the tokens), B [n×k] the weight (rows of stride ldb), f an optional activation
/// applied in the same pass.
///
/// Why not sgemm: row-major `X·Wᵀ` is column-major `W·Xᵀ` to OpenBLAS, so it copies the whole
/// activation matrix into its packed layout on every call (`sgemm_oncopy`), re-packs the weight
/// per core, and zeroes or scales C in a pass of its own; then the epilogue (GELU) is one more
/// pass over C. On LiteMedSAM those passes were 8–9% of the encoder's time. Here only the weight
/// is packed (n·k floats, the smaller side when m ≥ n), the activations are read in place, and
/// the activation function runs on each tile while it is still in L1.
///
/// Algorithm (Goto's blocking, with A unpacked):
/// ```
///   B packed once per call in panels of 48 columns (32 or 16 at a block's end): panel[kk][w]
///   tasks = blocks of `taskRows` rows of C, taken by the workers as they free up
///   per task:  for each column block (≤ `columnBlock`)   B block kc × nb stays in L2
///                for each k block (≤ `depthBlock`)        A tile 8 × kc stays in L1
///                  for each 8-row tile, each panel:  8×48 register tile, Σ over the k block
///                  (from C after the first k block, or from C's addend with `accumulate`)
///                after the last k block: f on the tile's rows (L1-hot)
/// ```
/// The microkernel keeps 24 accumulators (8 rows × 3 vectors) and per k step does 3 vector
/// loads of B, 8 broadcasts of A and 24 FMAs (`runNN` uses the 8×32 form, 16 accumulators). Sums run in k order within a block and blocks in
/// order, so a result does not depend on the thread count. Rows past m (the last tile) are
/// computed from a zero-padded copy and never written back.
public enum PackedGemm {
    typealias V = SIMD16<Float>

    static let tile = 8
    static let taskRows = 128
    /// k per block: an 8-row A tile of 8·kc floats stays in L1 (12 KiB at 384)
    static let depthBlock = 384
    /// columns per block: a kc × nb block of B stays in L2 (288 KiB at 384 × 192); four 48-wide panels
    static let columnBlock = 192

    /// Whether the CPU runs 16-float vectors in one register (AVX-512): the 8×48 tile needs 24
    /// accumulators, which on AVX2 (ymm pairs) would spill, so there sgemm stays.
    public static let wideVectors: Bool = samdg_cpu_has_avx512f() != 0

    /// `SAMDG_PACKED_GEMM=0` turns the path off (for A/B measurements).
    nonisolated(unsafe) static var enabled: Bool = {
        if let v = getenv("SAMDG_PACKED_GEMM") { return String(cString: v) != "0" }
        return true
    }()

    /// Runs `body` with this path off (for baselines in one process).
    public static func withDisabled<T>(_ body: () throws -> T) rethrows -> T {
        let was = enabled
        enabled = false
        defer { enabled = was }
        return try body()
    }

    /// Whether C = A·Bᵀ of this shape goes through this kernel.
    /// Rows are what it splits over the cores (`taskRows` per task), so there must be a task per
    /// thread; and k at most 4096, since B (n·k) is packed on every call: a weight gradient's
    /// long contraction (k = pixels) with few rows stays with sgemm, which splits its columns.
    public static func applies(m: Int, n: Int, k: Int) -> Bool {
        enabled && wideVectors && m >= max(64, taskRows * Parallel.threads) && n >= 16 && n % 16 == 0 && k >= 16 && k <= 4096
            && m >= n / 4
    }

    /// Floats of the packed B.
    static func packedCount(n: Int, k: Int) -> Int { n * k }

    /// The width of the panel starting at column `col` of a column block ending at `end`:
    /// 48 while at least 48 remain, then 32 or 16 (n is a multiple of 16).
    @inline(__always)
    static func panelWidth(_ col: Int, end: Int) -> Int {
        let r = end - col
        return r >= 48 ? 48 : (r >= 32 ? 32 : 16)
    }

    /// Packs B [n×k] (row stride ldb) into panels, in column blocks of `columnBlock` cut into
    /// panels by `panelWidth`: the panel of columns col..<col + w starts at col·k and holds
    /// B[col + l, kk] at `[kk·w + l]`.
    static func pack(_ b: UnsafePointer<Float>, ldb: Int, n: Int, k: Int, into out: UnsafeMutablePointer<Float>) {
        let blocks = (n + columnBlock - 1) / columnBlock
        Parallel.forChunks(blocks, grain: 1) { r in
            for blk in r {
                let end = min(n, (blk + 1) * columnBlock)
                var col = blk * columnBlock
                while col < end {
                    let w = panelWidth(col, end: end), dst = out + col * k
                    for half in stride(from: 0, to: w, by: 16) {
                        let src = b + (col + half) * ldb
                        var kk = 0
                        while kk + 16 <= k {
                            samdg_transpose16_copy(src + kk, ldb, dst + kk * w + half, w)
                            kk += 16
                        }
                        while kk < k {
                            for l in 0..<16 { dst[kk * w + half + l] = src[l * ldb + kk] }
                            kk += 1
                        }
                    }
                    col += w
                }
            }
        }
    }

    /// What a linear layer adds to its product: a bias row broadcast over the rows and/or a
    /// residual [m×n] (row stride `ldr`; it may be C itself). Written into each C tile while the
    /// tile is in L1, it replaces a pass that fills all of C first (a write and a read of m·n
    /// floats through memory).
    public struct Addend {
        public var bias: UnsafePointer<Float>?
        public var residual: UnsafePointer<Float>?
        public var ldr: Int
        public init(bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int) {
            self.bias = bias; self.residual = residual; self.ldr = ldr
        }

        /// dst[0..<count] = bias[col..] + residual[row, col..] (either alone when the other is nil).
        @inline(__always)
        func write(row: Int, col: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
            let r = residual.map { $0 + row * ldr + col }, bb = bias.map { $0 + col }
            var j = 0
            if let r, let bb {
                while j + 16 <= count { store16(load16(bb + j) + load16(r + j), dst + j); j += 16 }
                while j < count { dst[j] = bb[j] + r[j]; j += 1 }
            } else if let src = r ?? bb {
                if src != UnsafePointer(dst) { dst.update(from: src, count: count) }
            }
        }
    }

    /// C[m×n] = f(A·Bᵀ (+ C)); `accumulate` adds to what C holds, `addend` to its terms.
    public static func run(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, addend: Addend? = nil,
                           activation: UnaryFn? = nil) {
        precondition(!(accumulate && addend != nil), "PackedGemm: accumulate into C or add an addend, not both")
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: packedCount(n: n, k: k))
        defer { packed.deallocate() }
        pack(b, ldb: ldb, n: n, k: k, into: packed)
        let tasks = (m + taskRows - 1) / taskRows
        let kBlocks = (k + depthBlock - 1) / depthBlock
        let kc = (k + kBlocks - 1) / kBlocks
        let workers = max(1, Parallel.threads)
        // per worker: a zero-padded A tile and a C tile for the rows past m
        let per = (tile * k + tile * n + 15) & ~15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * workers)
        defer { scratch.deallocate() }
        Parallel.forTasks(tasks) { task, worker in
            let r0 = task * taskRows, r1 = min(m, r0 + taskRows)
            let at = scratch + worker * per, ct = at + tile * k
            var nb0 = 0
            while nb0 < n {
                let nb1 = min(n, nb0 + columnBlock)
                var kb0 = 0
                while kb0 < k {
                    let kb1 = min(k, kb0 + kc), first = kb0 == 0, last = kb1 == k
                    var t0 = r0
                    while t0 < r1 {
                        let rows = min(tile, r1 - t0)
                        var ta = a + t0 * lda, tlda = lda, tc = c + t0 * ldc, tldc = ldc
                        if rows < tile {
                            // the last tile: a zero-padded copy of its rows, results through a scratch tile
                            ta = UnsafePointer(at); tlda = k; tc = ct; tldc = n
                            if first && nb0 == 0 {
                                at.update(repeating: 0, count: tile * k)
                                for i in 0..<rows { (at + i * k).update(from: a + (t0 + i) * lda, count: k) }
                            }
                            if first && accumulate {
                                for i in 0..<rows { (ct + i * n + nb0).update(from: c + (t0 + i) * ldc + nb0, count: nb1 - nb0) }
                            }
                        }
                        // a whole tile adds the addend's terms to its accumulators as it stores them; the
                        // last tile's scratch rows get them written first (rows past m have none)
                        let whole = rows == tile
                        if first && !whole, let addend {
                            for i in 0..<rows { addend.write(row: t0 + i, col: nb0, count: nb1 - nb0, into: tc + i * tldc + nb0) }
                        }
                        let terms = first && whole ? addend : nil
                        var col = nb0
                        while col < nb1 {
                            let w = panelWidth(col, end: nb1), panel = packed + col * k + kb0 * w
                            let load = !first || accumulate || (addend != nil && !whole)
                            if load {
                                // C of the next panel (or the next tile's first) is read by the next call:
                                // fetch its 8 rows now, while this one multiplies
                                let next = col + w < nb1 ? tc + col + w : tc + 8 * tldc + nb0
                                for i in 0..<tile {
                                    samdg_prefetch(next + i * tldc); samdg_prefetch(next + i * tldc + 16); samdg_prefetch(next + i * tldc + 32)
                                }
                            }
                            let bias = terms?.bias.map { $0 + col }
                            let residual = terms?.residual.map { $0 + t0 * terms!.ldr + col }, ldr = terms?.ldr ?? 0
                            if let r = residual, col + w < nb1 {
                                for i in 0..<tile {
                                    samdg_prefetch(r + i * ldr + w); samdg_prefetch(r + i * ldr + w + 16); samdg_prefetch(r + i * ldr + w + 32)
                                }
                            }
                            if w == 48 {
                                kernel8x48(ta + kb0, lda: tlda, depth: kb1 - kb0, panel, tc + col, ldc: tldc, load: load,
                                           bias: bias, residual: residual, ldr: ldr)
                            } else if w == 32 {
                                kernel8x32(ta + kb0, lda: tlda, depth: kb1 - kb0, panel, tc + col, ldc: tldc, load: load,
                                           bias: bias, residual: residual, ldr: ldr)
                            } else {
                                kernel8x16(ta + kb0, lda: tlda, depth: kb1 - kb0, panel, tc + col, ldc: tldc, load: load,
                                           bias: bias, residual: residual, ldr: ldr)
                            }
                            col += w
                        }
                        if last {
                            if let f = activation {
                                for i in 0..<tile {
                                    let row = tc + i * tldc + nb0
                                    if case .geluErf = f {
                                        UnaryKernels.geluLoop(row, row, 0..<(nb1 - nb0), stream: false)
                                    } else {
                                        UnaryKernels.applySerial(f, row, row, count: nb1 - nb0)
                                    }
                                }
                            }
                            if rows < tile {
                                for i in 0..<rows { (c + (t0 + i) * ldc + nb0).update(from: ct + i * n + nb0, count: nb1 - nb0) }
                            }
                        }
                        t0 += tile
                    }
                    kb0 = kb1
                }
                nb0 = nb1
            }
        }
    }

    /// Whether C = A·B (B not transposed) of this shape goes through `runNN`.
    public static func appliesNN(m: Int, n: Int, k: Int) -> Bool {
        enabled && wideVectors && m >= 8 && n >= 32 && k >= 8 && k <= 512
    }

    /// C[m×n] (+)= A[m×k]·B[k×n] with nothing packed: a 1×1 convolution's weight times its input
    /// rows (`ConvChain`), where A is the small weight and B's rows (row stride ldb) are already
    /// the panels the microkernel reads — 32 consecutive columns of k rows, reused from L1 by
    /// every 8-row tile of A. Columns past the last multiple of 16 go through sgemm.
    public static func runNN(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let body = n / 16 * 16
        let fullTiles = m / tile, tail = m - fullTiles * tile
        let blocks = (body + columnBlock - 1) / columnBlock
        Parallel.forTasks(blocks) { block, _ in
            let n0 = block * columnBlock, n1 = min(body, n0 + columnBlock)
            var col = n0
            while col < n1 {
                let w = n1 - col >= 32 ? 32 : 16
                for t in 0..<fullTiles {
                    let r = t * tile
                    if w == 32 {
                        kernel8x32(a + r * lda, lda: lda, depth: k, b + col, ldp: ldb, c + r * ldc + col, ldc: ldc, load: accumulate)
                    } else {
                        kernel8x16(a + r * lda, lda: lda, depth: k, b + col, ldp: ldb, c + r * ldc + col, ldc: ldc, load: accumulate)
                    }
                }
                col += w
            }
        }
        if tail > 0 && body > 0 {
            let r = fullTiles * tile
            Gemm.blas(false, false, tail, body, k, 1, a + r * lda, lda, b, ldb, accumulate ? 1 : 0, c + r * ldc, ldc)
        }
        if body < n {
            Gemm.blas(false, false, m, n - body, k, 1, a, lda, b + body, ldb, accumulate ? 1 : 0, c + body, ldc)
        }
    }

    /// As `kernel8x32` for a 48-column panel: 24 accumulators, per k step 3 loads of B, 8
    /// broadcasts of A and 24 FMAs (a third fewer broadcasts per FMA).
    @inline(__always)
    static func kernel8x48(_ a: UnsafePointer<Float>, lda: Int, depth: Int, _ b: UnsafePointer<Float>,
                           _ c: UnsafeMutablePointer<Float>, ldc: Int, load: Bool,
                           bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, ldr: Int) {
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
        var c00 = V(), c01 = V(), c02 = V(), c10 = V(), c11 = V(), c12 = V(), c20 = V(), c21 = V(), c22 = V()
        var c30 = V(), c31 = V(), c32 = V(), c40 = V(), c41 = V(), c42 = V(), c50 = V(), c51 = V(), c52 = V()
        var c60 = V(), c61 = V(), c62 = V(), c70 = V(), c71 = V(), c72 = V()
        var bp = b
        for kk in 0..<depth {
            let b0 = load16(bp), b1 = load16(bp + 16), b2 = load16(bp + 32)
            var x = V(repeating: a0[kk]); c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1); c02 = c02.addingProduct(x, b2)
            x = V(repeating: a1[kk]); c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1); c12 = c12.addingProduct(x, b2)
            x = V(repeating: a2[kk]); c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1); c22 = c22.addingProduct(x, b2)
            x = V(repeating: a3[kk]); c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1); c32 = c32.addingProduct(x, b2)
            x = V(repeating: a4[kk]); c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1); c42 = c42.addingProduct(x, b2)
            x = V(repeating: a5[kk]); c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1); c52 = c52.addingProduct(x, b2)
            x = V(repeating: a6[kk]); c60 = c60.addingProduct(x, b0); c61 = c61.addingProduct(x, b1); c62 = c62.addingProduct(x, b2)
            x = V(repeating: a7[kk]); c70 = c70.addingProduct(x, b0); c71 = c71.addingProduct(x, b1); c72 = c72.addingProduct(x, b2)
            bp += 48
        }
        let bv0 = bias.map { load16($0) }, bv1 = bias.map { load16($0 + 16) }, bv2 = bias.map { load16($0 + 32) }
        @inline(__always) func put(_ v0: V, _ v1: V, _ v2: V, _ i: Int) {
            let row = c + i * ldc
            var x0 = v0, x1 = v1, x2 = v2
            if load { x0 += load16(row); x1 += load16(row + 16); x2 += load16(row + 32) }
            if let bv0, let bv1, let bv2 { x0 += bv0; x1 += bv1; x2 += bv2 }
            if let r = residual { let rr = r + i * ldr; x0 += load16(rr); x1 += load16(rr + 16); x2 += load16(rr + 32) }
            store16(x0, row); store16(x1, row + 16); store16(x2, row + 32)
        }
        put(c00, c01, c02, 0); put(c10, c11, c12, 1); put(c20, c21, c22, 2); put(c30, c31, c32, 3)
        put(c40, c41, c42, 4); put(c50, c51, c52, 5); put(c60, c61, c62, 6); put(c70, c71, c72, 7)
    }

    /// C[0..<8, 0..<32] = Σ_kk A[i, kk]·panel[kk][0..<32] over `depth` steps, plus C's values
    /// (`load`), `bias[0..<32]` and the residual rows (`residual + i·ldr`) where given.
    @inline(__always)
    static func kernel8x32(_ a: UnsafePointer<Float>, lda: Int, depth: Int, _ b: UnsafePointer<Float>, ldp: Int = 32,
                           _ c: UnsafeMutablePointer<Float>, ldc: Int, load: Bool,
                           bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, ldr: Int = 0) {
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        var c40 = V(), c41 = V(), c50 = V(), c51 = V(), c60 = V(), c61 = V(), c70 = V(), c71 = V()
        var bp = b
        for kk in 0..<depth {
            let b0 = load16(bp), b1 = load16(bp + 16)
            var x = V(repeating: a0[kk]); c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: a1[kk]); c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: a2[kk]); c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: a3[kk]); c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: a4[kk]); c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: a5[kk]); c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            x = V(repeating: a6[kk]); c60 = c60.addingProduct(x, b0); c61 = c61.addingProduct(x, b1)
            x = V(repeating: a7[kk]); c70 = c70.addingProduct(x, b0); c71 = c71.addingProduct(x, b1)
            bp += ldp
        }
        let bv0 = bias.map { load16($0) }, bv1 = bias.map { load16($0 + 16) }
        @inline(__always) func put(_ v0: V, _ v1: V, _ i: Int) {
            let row = c + i * ldc
            var x0 = v0, x1 = v1
            if load { x0 += load16(row); x1 += load16(row + 16) }
            if let bv0, let bv1 { x0 += bv0; x1 += bv1 }
            if let r = residual { x0 += load16(r + i * ldr); x1 += load16(r + i * ldr + 16) }
            store16(x0, row); store16(x1, row + 16)
        }
        put(c00, c01, 0); put(c10, c11, 1); put(c20, c21, 2); put(c30, c31, 3)
        put(c40, c41, 4); put(c50, c51, 5); put(c60, c61, 6); put(c70, c71, 7)
    }

    /// As `kernel8x32` for a 16-column panel.
    @inline(__always)
    static func kernel8x16(_ a: UnsafePointer<Float>, lda: Int, depth: Int, _ b: UnsafePointer<Float>, ldp: Int = 16,
                           _ c: UnsafeMutablePointer<Float>, ldc: Int, load: Bool,
                           bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, ldr: Int = 0) {
        let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda
        let a4 = a + 4 * lda, a5 = a + 5 * lda, a6 = a + 6 * lda, a7 = a + 7 * lda
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V(), c6 = V(), c7 = V()
        var bp = b
        for kk in 0..<depth {
            let b0 = load16(bp)
            c0 = c0.addingProduct(V(repeating: a0[kk]), b0); c1 = c1.addingProduct(V(repeating: a1[kk]), b0)
            c2 = c2.addingProduct(V(repeating: a2[kk]), b0); c3 = c3.addingProduct(V(repeating: a3[kk]), b0)
            c4 = c4.addingProduct(V(repeating: a4[kk]), b0); c5 = c5.addingProduct(V(repeating: a5[kk]), b0)
            c6 = c6.addingProduct(V(repeating: a6[kk]), b0); c7 = c7.addingProduct(V(repeating: a7[kk]), b0)
            bp += ldp
        }
        let bv = bias.map { load16($0) }
        @inline(__always) func put(_ v: V, _ i: Int) {
            let row = c + i * ldc
            var x = v
            if load { x += load16(row) }
            if let bv { x += bv }
            if let r = residual { x += load16(r + i * ldr) }
            store16(x, row)
        }
        put(c0, 0); put(c1, 1); put(c2, 2); put(c3, 3); put(c4, 4); put(c5, 5); put(c6, 6); put(c7, 7)
    }
}
