import CBLAS
import Tensor

/// Matrix products through `cblas_sgemm` (row-major).
public enum Gemm {
    /// C[m×n] = alpha·op(A)·op(B) + beta·C with leading dimensions given.
    @inline(__always)
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Batched, broadcasting matmul over the last two axes (`torch.matmul` on rank ≥ 2 operands).
    /// With `accumulate`, y += op(a)·op(b) (beta = 1: OpenBLAS then skips its zeroing pass over y).
    public static func matmul(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, _ y: Tensor, accumulate: Bool = false) {
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
            sgemm(transA: false, transB: transB, m: m * batch, n: n, k: k, a: a.ptr, lda: lda,
                  b: b.ptr, ldb: ldb, beta: beta, c: y.ptr, ldc: n)
            return
        }
        let sa = broadcastStrides(Array(a.shape.dropLast(2)), to: batchShape)
        let sb = broadcastStrides(Array(b.shape.dropLast(2)), to: batchShape)
        let matA = a.shape[ra - 1] * a.shape[ra - 2], matB = b.shape[rb - 1] * b.shape[rb - 2]
        var offA = [Int](repeating: 0, count: batch), offB = offA
        for i in 0..<batch {
            var rem = i
            for d in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let j = rem % batchShape[d]; rem /= batchShape[d]
                offA[i] += j * sa[d] * matA; offB[i] += j * sb[d] * matB
            }
        }
        if DotGemm.applies(transA: transA, transB: transB, m: m, n: n, k: k) {
            DotGemm.run(m: m, n: n, k: k, a: a.ptr, lda: lda, offA: offA, b: b.ptr, ldb: ldb, offB: offB,
                        c: y.ptr, accumulate: accumulate)
            return
        }
        for i in 0..<batch {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.ptr + offA[i], lda: lda,
                  b: b.ptr + offB[i], ldb: ldb, beta: beta, c: y.ptr + i * m * n, ldc: n)
        }
    }
}
