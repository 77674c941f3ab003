/// C = A·Bᵀ (+ C) by direct dot products, for batched row-major products with one tiny side.
///
/// Algorithm: every C[i][j] is a dot product of two contiguous rows (A[i, :], B[j, :]). With at
/// most 8 rows on one side and a long contraction (the SAM hypernetwork product
/// [4, 32]·[32, 65536]ᵀ and its gradients), OpenBLAS spends more on packing,
/// thread start-up and edge kernels than on the arithmetic. Here the contraction axis is cut into
/// chunks of 2048; per chunk the rows of the large side are streamed once and each is dotted with
/// all rows of the small side, which stay in L1. Lanes accumulate in two SIMD16 registers and are
/// summed by halving. Work is split over the threads by (batch, block of rows of the large side).
/// Short contractions (k ≤ 64, e.g. SAM decoder heads of 16: [7, 16]·[4096, 16]ᵀ) are not done
/// here: there a dot product is one or two SIMD16 products and the horizontal sum would
/// dominate. k ≤ 32 goes to `SmallKGemm` (no horizontal sums), the rest to OpenBLAS, one
/// single-threaded GEMM per batch element and core (`Gemm.strided`).
enum DotGemm {
    typealias V = SIMD16<Float>
    static let chunk = 2048

    /// Whether the direct path is used for one batch element of shape m×n, contraction k.
    static func applies(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) -> Bool {
        !transA && transB && min(m, n) <= 8 && m * n * k >= 1 && k > 64
    }

    /// For every batch element b: C_b[m×n] (+)= A_b[m×k]·B_b[n×k]ᵀ, with A_b = a + offA[b] and
    /// B_b = b + offB[b] (row strides lda, ldb) and C_b = c + offC[b] (row stride ldc).
    static func run(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, offA: [Int],
                    b: UnsafePointer<Float>, ldb: Int, offB: [Int], c: UnsafeMutablePointer<Float>, offC: [Int], ldc: Int,
                    accumulate: Bool) {
        let batch = offA.count
        let smallIsA = m <= n
        let large = smallIsA ? n : m
        let block = max(1, min(large, (1 << 16) / max(1, min(k, chunk))))
        let blocks = (large + block - 1) / block
        Parallel.forChunks(batch * blocks, grain: 1) { range in
            for task in range {
                let bi = task / blocks, l0 = (task % blocks) * block, l1 = min(large, l0 + block)
                let pa = a + offA[bi], pb = b + offB[bi], pc = c + offC[bi]
                var k0 = 0
                while k0 < k {
                    let len = min(chunk, k - k0)
                    let first = k0 == 0 && !accumulate
                    for l in l0..<l1 {
                        if smallIsA {
                            let row = pb + l * ldb + k0
                            for i in 0..<m { add(dot(pa + i * lda + k0, row, len), pc + i * ldc + l, first) }
                        } else {
                            let row = pa + l * lda + k0
                            for j in 0..<n { add(dot(row, pb + j * ldb + k0, len), pc + l * ldc + j, first) }
                        }
                    }
                    k0 += len
                }
            }
        }
    }

    @inline(__always) static func add(_ s: Float, _ p: UnsafeMutablePointer<Float>, _ first: Bool) {
        p.pointee = first ? s : p.pointee + s
    }

    @inline(__always) static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = V(repeating: 0), acc1 = V(repeating: 0)
        var i = 0
        while i + 32 <= n {
            acc0 += load16(x + i) * load16(y + i)
            acc1 += load16(x + i + 16) * load16(y + i + 16)
            i += 32
        }
        if i + 16 <= n { acc0 += load16(x + i) * load16(y + i); i += 16 }
        let h8 = (acc0 + acc1).lowHalf + (acc0 + acc1).highHalf
        let h4 = h8.lowHalf + h8.highHalf
        let h2 = h4.lowHalf + h4.highHalf
        var s = h2[0] + h2[1]
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }
}
