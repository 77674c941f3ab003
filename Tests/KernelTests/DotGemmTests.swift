import Kernels
import Tensor
import TestSupport
import XCTest

/// The direct dot-product path of batched A·Bᵀ (one side ≤ 8 rows) against a Double loop.
final class DotGemmTests: XCTestCase {
    var rng = SeededRNG(seed: 41)

    func testSmallSideProductsMatchLoop() {
        // (batch of a, batch of b, m, n, k): tails of 16 and 32 lanes, several 2048-chunks, a
        // broadcast batch, the small side on either operand
        let cases: [([Int], [Int], Int, Int, Int)] = [
            ([2, 3], [2, 3], 70, 7, 16), ([4], [4], 4, 32, 5000), ([2, 1], [1, 3], 5, 40, 37),
            ([3], [3], 8, 9, 4111), ([1], [1], 1, 1, 8),
            // the short-contraction path (SmallKGemm): small side on A or B, fewer than 4 lanes,
            // several row blocks and tiles, a broadcast batch
            ([2], [2], 5, 300, 16), ([1], [1], 100, 3, 20), ([2, 1], [1, 2], 600, 8, 32), ([2], [2], 7, 70, 1),
        ]
        for (ba, bb, m, n, k) in cases {
            let a = rng.tensor(ba + [m, k]), b = rng.tensor(bb + [n, k])
            let batch = zip(ba, bb).map { max($0, $1) }
            let count = batch.reduce(1, *)
            for accumulate in [false, true] {
                let y = rng.tensor(batch + [m, n])
                let before = y.scalars
                Gemm.matmul(a, b, transA: false, transB: true, y, accumulate: accumulate)
                var ref = [Float](repeating: 0, count: count * m * n)
                let sa = ShapeMath.strides(ba), sb = ShapeMath.strides(bb)
                for t in 0..<count {
                    var rem = t, oa = 0, ob = 0
                    for d in stride(from: batch.count - 1, through: 0, by: -1) {
                        let i = rem % batch[d]; rem /= batch[d]
                        oa += (ba[d] == 1 ? 0 : i) * sa[d]; ob += (bb[d] == 1 ? 0 : i) * sb[d]
                    }
                    for i in 0..<m { for j in 0..<n {
                        var s: Double = accumulate ? Double(before[(t * m + i) * n + j]) : 0
                        for q in 0..<k { s += Double(a.floats[(oa * m + i) * k + q]) * Double(b.floats[(ob * n + j) * k + q]) }
                        ref[(t * m + i) * n + j] = Float(s)
                    } }
                }
                XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, "\(ba) \(bb) m \(m) n \(n) k \(k) acc \(accumulate)")
            }
        }
    }
    /// The few-rows path (SmallMGemm) with plain operands: op(A)·B for m ≤ 8, n = 16, both
    /// transposes of A, accumulating or not.
    func testFewRowsLongContractionMatchesLoop() {
        for (m, k, ta) in [(7, 300, false), (7, 300, true), (8, 64, false), (3, 129, true)] {
            let a = rng.tensor(ta ? [2, k, m] : [2, m, k]), b = rng.tensor([2, k, 16])
            for accumulate in [false, true] {
                let y = rng.tensor([2, m, 16])
                let before = y.scalars
                Gemm.matmul(a, b, transA: ta, transB: false, y, accumulate: accumulate)
                var ref = [Float](repeating: 0, count: 2 * m * 16)
                for t in 0..<2 { for i in 0..<m { for j in 0..<16 {
                    var s: Double = accumulate ? Double(before[(t * m + i) * 16 + j]) : 0
                    for q in 0..<k {
                        let av = ta ? a.floats[(t * k + q) * m + i] : a.floats[(t * m + i) * k + q]
                        s += Double(av) * Double(b.floats[(t * k + q) * 16 + j])
                    }
                    ref[(t * m + i) * 16 + j] = Float(s)
                } } }
                XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, "m \(m) k \(k) ta \(ta) acc \(accumulate)")
            }
        }
    }
}
