import CBLAS
import Primitives
import Tensor

/// Matrix products through `cblas_sgemm` (row-major).
public enum Gemm {
    /// C[m×n] = alpha·op(A)·op(B) + beta·C with leading dimensions given.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if !transA && transB && alpha == 1 && (beta == 0 || beta == 1) && PackedGemm.applies(m: m, n: n, k: k) {
            PackedGemm.run(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: beta == 1)
            return
        }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let parts = Parallel.threads
        if parts > 1 && m * n * k >= splitThreshold && max(m, n) >= 2 * splitAlign {
            // OpenBLAS is single-threaded (see `Parallel`): each core takes one slab of C, split
            // along its longer side in multiples of the kernels' register tile, so every element
            // is summed in the same order as unsplit. Inside another parallel body the pool is
            // taken and `run` returns false: the product then runs whole on this thread.
            let splitRows = m >= n
            let extent = splitRows ? m : n
            let per = (extent + parts - 1) / parts
            let slab = (per + splitAlign - 1) / splitAlign * splitAlign
            let ran = Parallel.run { p in
                let lo = p * slab, hi = min(extent, lo + slab)
                guard lo < hi else { return }
                if splitRows {
                    blas(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc)
                } else {
                    blas(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc)
                }
            }
            if ran { return }
        }
        blas(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    /// C[m×n] = A·B (neither transposed, beta = 0): `PackedGemm.runNN` where it applies (no
    /// operand packed), else sgemm.
    public static func sgemmNN(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               c: UnsafeMutablePointer<Float>, ldc: Int) {
        if PackedGemm.appliesNN(m: m, n: n, k: k) {
            PackedGemm.runNN(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, accumulate: false)
        } else {
            sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        }
    }

    /// Products of at least this many multiply-adds are split over the cores (OpenBLAS's own
    /// threading threshold is m·n·k ≥ 4·65536).
    static let splitThreshold = 1 << 18
    /// Slabs are multiples of 64 rows or columns (a multiple of every sgemm register tile).
    static let splitAlign = 64

    @inline(__always)
    static func blas(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                     _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Batched, broadcasting matmul over the last two axes (`torch.matmul` on rank ≥ 2 operands).
    /// With `accumulate`, y += op(a)·op(b) (beta = 1: OpenBLAS then skips its zeroing pass over y).
    /// With `activation`, y = f(…) when the product goes through `PackedGemm` (f on each tile as it
    /// is finished); returns whether f was applied, so the caller applies it otherwise.
    @discardableResult
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, _ y: Tensor, accumulate: Bool = false,
                              activation: UnaryFn? = nil) -> Bool {
        let beta: Float = accumulate ? 1 : 0
        let ra = a.rank, rb = b.rank
        let m = transA ? a.shape[ra - 1] : a.shape[ra - 2]
        let k = transA ? a.shape[ra - 2] : a.shape[ra - 1]
        let n = transB ? b.shape[rb - 2] : b.shape[rb - 1]
        let lda = a.shape[ra - 1], ldb = b.shape[rb - 1]
        let batchShape = Array(y.shape.dropLast(2))
        let batch = ShapeMath.count(batchShape)
        let aBatch = ShapeMath.count(Array(a.shape.dropLast(2)))
        // A stack of row-major matrices times one shared B: one GEMM with M·batch rows.
        if rb == 2 && !transA && aBatch == batch {
            if transB && PackedGemm.applies(m: m * batch, n: n, k: k) {
                PackedGemm.run(m: m * batch, n: n, k: k, a: a.ptr, lda: lda, b: b.ptr, ldb: ldb, c: y.ptr, ldc: n,
                               accumulate: accumulate, activation: activation)
                return activation != nil
            }
            sgemm(transA: false, transB: transB, m: m * batch, n: n, k: k, a: a.ptr, lda: lda,
                  b: b.ptr, ldb: ldb, beta: beta, c: y.ptr, ldc: n)
            return false
        }
        strided(a.ptr, a.shape, ShapeMath.strides(a.shape), b.ptr, b.shape, ShapeMath.strides(b.shape),
                y.ptr, y.shape, ShapeMath.strides(y.shape), transA: transA, transB: transB, accumulate: accumulate)
        return false
    }

    /// y = f(a·bᵀ + addend) for a linear layer whose addend program is one term or the sum of two
    /// (a bias row broadcast over the rows, or a residual of y's shape), through `PackedGemm` with
    /// the terms written tile by tile; returns false (doing nothing) for any other case, which
    /// the caller then runs as fill + sgemm.
    public static func linear(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, _ y: Tensor, addend p: FusedProgram,
                              operands: [Tensor], activation: UnaryFn?) -> Bool {
        guard !transA && transB && b.rank == 2 && a.rank >= 2 && y.rank == a.rank else { return false }
        let k = a.shape[a.rank - 1], n = b.shape[0], m = a.count / max(k, 1)
        guard b.shape[1] == k && y.count == m * n && y.shape.last == n && PackedGemm.applies(m: m, n: n, k: k) else { return false }
        var bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil
        func take(_ t: Tensor) -> Bool {
            if t.count == n && t.shape.last == n && bias == nil { bias = UnsafePointer(t.ptr); return true }
            if t.count == m * n && t.shape == y.shape && residual == nil { residual = UnsafePointer(t.ptr); return true }
            return false
        }
        switch p.instrs {
        case [.load(0)] where operands.count == 1:
            guard take(operands[0]) else { return false }
        case [.load(0), .load(1), .binary(.add, 0, 1)] where operands.count == 2,
             [.load(1), .load(0), .binary(.add, 0, 1)] where operands.count == 2:
            guard take(operands[0]) && take(operands[1]) else { return false }
        default:
            return false
        }
        PackedGemm.run(m: m, n: n, k: k, a: a.ptr, lda: k, b: b.ptr, ldb: k, c: y.ptr, ldc: n, accumulate: false,
                       addend: PackedGemm.Addend(bias: bias, residual: residual, ldr: n), activation: activation)
        return true
    }

    /// `matmul` through views: `a`, `b` are `permute(buffer, view.perm)` broadcast to `view.shape`,
    /// and the result is written as `permute(result, yView.perm)` (the head split / merge
    /// permutes of multi-head attention), with no copy: batch axes by strides, matrix rows by the
    /// leading dimension. Views keep the last axis last (asserted by `GemmView.init`).
    public static func matmul(_ a: Tensor, _ aView: GemmView?, _ b: Tensor, _ bView: GemmView?, transA: Bool, transB: Bool,
                              _ y: Tensor, _ yView: GemmView?) {
        let (aShape, aStrides) = aView.map { ($0.shape, $0.inputStrides(buffer: a.shape)) } ?? (a.shape, ShapeMath.strides(a.shape))
        let (bShape, bStrides) = bView.map { ($0.shape, $0.inputStrides(buffer: b.shape)) } ?? (b.shape, ShapeMath.strides(b.shape))
        let (yShape, yStrides) = yView.map { ($0.shape, $0.outputStrides()) } ?? (y.shape, ShapeMath.strides(y.shape))
        strided(a.ptr, aShape, aStrides, b.ptr, bShape, bStrides, y.ptr, yShape, yStrides, transA: transA, transB: transB, accumulate: false)
    }

    /// The general batched product over element strides (last-axis stride 1 on every operand).
    static func strided(_ a: UnsafePointer<Float>, _ aShape: [Int], _ aStrides: [Int],
                        _ b: UnsafePointer<Float>, _ bShape: [Int], _ bStrides: [Int],
                        _ y: UnsafeMutablePointer<Float>, _ yShape: [Int], _ yStrides: [Int],
                        transA: Bool, transB: Bool, accumulate: Bool) {
        let ra = aShape.count, rb = bShape.count, ry = yShape.count
        let m = transA ? aShape[ra - 1] : aShape[ra - 2]
        let k = transA ? aShape[ra - 2] : aShape[ra - 1]
        let n = transB ? bShape[rb - 2] : bShape[rb - 1]
        /// row stride of a matrix whose columns are contiguous (any value ≥ the row length for one row)
        func ld(_ shape: [Int], _ strides: [Int]) -> Int {
            let r = shape.count
            return shape[r - 2] == 1 ? max(1, shape[r - 1]) : strides[r - 2]
        }
        let lda = ld(aShape, aStrides), ldb = ld(bShape, bStrides), ldy = ld(yShape, yStrides)
        let batchShape = Array(yShape.dropLast(2))
        let batch = ShapeMath.count(batchShape)
        var offA = [Int](repeating: 0, count: batch), offB = offA, offY = offA
        for i in 0..<batch {
            var rem = i
            for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let j = rem % batchShape[d]; rem /= batchShape[d]
                let da = d - (ry - ra), db = d - (ry - rb)
                if da >= 0 && aShape[da] != 1 { offA[i] += j * aStrides[da] }
                if db >= 0 && bShape[db] != 1 { offB[i] += j * bStrides[db] }
                offY[i] += j * yStrides[d]
            }
        }
        if DotGemm.applies(transA: transA, transB: transB, m: m, n: n, k: k) {
            DotGemm.run(m: m, n: n, k: k, a: a, lda: lda, offA: offA, b: b, ldb: ldb, offB: offB,
                        c: y, offC: offY, ldc: ldy, accumulate: accumulate)
            return
        }
        if SmallMGemm.applies(transA: transA, transB: transB, m: m, n: n, k: k) {
            SmallMGemm.run(m: m, k: k, transA: transA, a: a, lda: lda, offA: offA, b: b, ldb: ldb, offB: offB,
                           c: y, offC: offY, ldc: ldy, accumulate: accumulate)
            return
        }
        if SmallKGemm.applies(transA: transA, transB: transB, m: m, n: n, k: k) {
            SmallKGemm.run(m: m, n: n, k: k, a: a, lda: lda, offA: offA, b: b, ldb: ldb, offB: offB,
                           c: y, offC: offY, ldc: ldy, accumulate: accumulate)
            return
        }
        let beta: Float = accumulate ? 1 : 0
        // Many small products: one per worker at a time, OpenBLAS single-threaded in each.
        if batch >= 4 && m * n * k <= 1 << 21 {
            Parallel.forTasks(batch) { i, _ in
                sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a + offA[i], lda: lda,
                      b: b + offB[i], ldb: ldb, beta: beta, c: y + offY[i], ldc: ldy)
            }
            return
        }
        for i in 0..<batch {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a + offA[i], lda: lda,
                  b: b + offB[i], ldb: ldb, beta: beta, c: y + offY[i], ldc: ldy)
        }
    }
}

/// How a matmul operand or result lies in the buffer bound to it, so that a permute (and a batch
/// broadcast) next to a matmul needs no copy: logical axis i of the operand is buffer axis
/// `perm[i]`, broadcast to `shape` where the buffer has extent 1; for a result, the buffer is
/// `permute(result, perm)` and `shape` the result's logical shape. The last axis stays last, so
/// matrix rows are contiguous and BLAS reaches them by a leading dimension.
public struct GemmView: Hashable, Sendable, CustomStringConvertible {
    public let perm: [Int]
    public let shape: [Int]

    public init(perm: [Int], shape: [Int]) {
        precondition(perm.count == shape.count && perm.count >= 2 && perm.last == perm.count - 1 && perm.sorted() == Array(perm.indices),
                     "GemmView: \(perm) must permute \(shape.count) axes and keep the last one last")
        self.perm = perm
        self.shape = shape
    }

    public var description: String { "\(perm)" }

    /// Element strides of the logical operand inside a buffer of shape `buffer`.
    public func inputStrides(buffer: [Int]) -> [Int] {
        let s = ShapeMath.strides(buffer)
        return perm.indices.map { i in buffer[perm[i]] == shape[i] ? s[perm[i]] : 0 }
    }

    /// Element strides of the logical result inside its buffer `permute(result, perm)`.
    public func outputStrides() -> [Int] {
        let s = ShapeMath.strides(perm.map { shape[$0] })
        var r = [Int](repeating: 0, count: perm.count)
        for i in perm.indices { r[perm[i]] = s[i] }
        return r
    }
}
