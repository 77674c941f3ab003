import Compiler
import Graph
import Kernels
import Runtime
import Tensor
import TestSupport
import XCTest

/// Matmul views: the strided GEMM against a Double loop over explicitly permuted / broadcast
/// operands, and the plan-level folding of attention's head split / merge permutes against the
/// unfused plan.
final class MatmulViewTests: XCTestCase {
    var rng = SeededRNG(seed: 43)

    /// x permuted by `perm` (out axis i = x axis perm[i]), as a flat array of the permuted shape.
    func permuted(_ x: Tensor, _ perm: [Int]) -> (shape: [Int], values: [Float]) {
        let shape = perm.map { x.shape[$0] }, st = ShapeMath.strides(x.shape)
        let n = ShapeMath.count(shape)
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n {
            var rem = i, off = 0
            for d in stride(from: shape.count - 1, through: 0, by: -1) { off += (rem % shape[d]) * st[perm[d]]; rem /= shape[d] }
            out[i] = x.floats[off]
        }
        return (shape, out)
    }

    /// Reference: C[batch] = op(A)·op(B) on logical (already permuted) row-major operands, batch
    /// axes broadcast where an operand has extent 1.
    func reference(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int], ta: Bool, tb: Bool) -> (shape: [Int], values: [Float]) {
        let r = sa.count
        let m = ta ? sa[r - 1] : sa[r - 2], k = ta ? sa[r - 2] : sa[r - 1], n = tb ? sb[r - 2] : sb[r - 1]
        let batch = zip(sa.dropLast(2), sb.dropLast(2)).map { max($0, $1) }
        let count = batch.reduce(1, *)
        var y = [Float](repeating: 0, count: count * m * n)
        let stA = ShapeMath.strides(Array(sa.dropLast(2))), stB = ShapeMath.strides(Array(sb.dropLast(2)))
        for t in 0..<count {
            var rem = t, oa = 0, ob = 0
            for d in stride(from: batch.count - 1, through: 0, by: -1) {
                let i = rem % batch[d]; rem /= batch[d]
                oa += (sa[d] == 1 ? 0 : i) * stA[d]; ob += (sb[d] == 1 ? 0 : i) * stB[d]
            }
            let pa = oa * sa[r - 2] * sa[r - 1], pb = ob * sb[r - 2] * sb[r - 1]
            for i in 0..<m { for j in 0..<n {
                var s = 0.0
                for q in 0..<k {
                    let av = ta ? a[pa + q * sa[r - 1] + i] : a[pa + i * sa[r - 1] + q]
                    let bv = tb ? b[pb + j * sb[r - 1] + q] : b[pb + q * sb[r - 1] + j]
                    s += Double(av) * Double(bv)
                }
                y[(t * m + i) * n + j] = Float(s)
            } }
        }
        return (batch + [m, n], y)
    }

    func testStridedGemmMatchesPermutedReference() {
        // (buffer shape of A, perm of A, broadcast batch of A?, same for B, ta, tb, output perm)
        let p = [0, 2, 1, 3]
        let cases: [([Int], [Int], [Int]?, [Int], [Int], [Int]?, Bool, Bool, [Int]?)] = [
            ([2, 7, 3, 5], p, nil, [2, 40, 3, 5], p, nil, false, true, nil),            // q·kᵀ on head-split views
            ([2, 3, 7, 40], [0, 1, 2, 3], nil, [2, 40, 3, 5], p, nil, false, false, p),  // P·v, result merged back
            ([1, 40, 3, 5], p, [2, 3, 40, 5], [2, 40, 3, 7], p, nil, true, false, nil),   // broadcast A, Aᵀ·B
            ([2, 9, 3, 5], p, nil, [1, 3, 5, 9], [0, 1, 2, 3], [2, 3, 5, 9], false, false, p), // broadcast B, merged result
            ([2, 70, 3, 5], p, nil, [2, 6, 3, 5], p, nil, false, true, nil),              // small side on B, k short
            ([2, 6, 2, 80], p, nil, [2, 100, 2, 80], p, nil, false, true, p),             // the direct-dot path, k > 64
        ]
        for (bufA, pa, bcA, bufB, pb, bcB, ta, tb, py) in cases {
            let a = rng.tensor(bufA), b = rng.tensor(bufB)
            let la = permuted(a, pa), lb = permuted(b, pb)
            let shapeA = bcA ?? la.shape, shapeB = bcB ?? lb.shape
            let ref = reference(la.values, la.shape, lb.values, lb.shape, ta: ta, tb: tb)
            let yView = py.map { GemmView(perm: $0, shape: ref.shape) }
            let y = Tensor(zeros: py.map { q in q.map { ref.shape[$0] } } ?? ref.shape)
            Gemm.matmul(a, GemmView(perm: pa, shape: shapeA), b, GemmView(perm: pb, shape: shapeB), transA: ta, transB: tb, y, yView)
            let got = py.map { permuted(y, inverse($0)).values } ?? y.scalars
            XCTAssertLessThan(relativeL2(got, ref.values), 1e-6, "A \(bufA) \(pa) B \(bufB) \(pb) ta \(ta) tb \(tb) y \(String(describing: py))")
        }
    }

    /// The short-contraction path (`SmallKGemm`, k ≤ 32 and one side ≤ 8 rows) through views:
    /// SAM decoder-like head products, the small side on either operand, row-block and tile tails,
    /// overlapping 8-lane stores into a contiguous result, scalar stores into a merged result.
    func testSmallContractionThroughViews() {
        let p = [0, 2, 1, 3]
        let cases: [([Int], [Int]?, [Int], [Int]?, [Int]?)] = [
            ([2, 7, 3, 16], nil, [2, 300, 3, 16], nil, nil),                  // tokens · imageᵀ
            ([2, 300, 3, 16], nil, [2, 7, 3, 16], nil, nil),                  // image · tokensᵀ
            ([1, 300, 3, 16], [2, 3, 300, 16], [2, 7, 3, 16], nil, nil),      // broadcast A
            ([2, 130, 3, 32], nil, [2, 3, 3, 32], nil, nil),                  // 3 lanes, k = 32
            ([2, 8, 3, 1], nil, [2, 65, 3, 1], nil, p),                       // k = 1, merged result
            ([2, 67, 3, 9], nil, [2, 8, 3, 9], nil, p),                       // 8 lanes, merged result
            ([2, 67, 3, 9], nil, [2, 5, 3, 9], nil, nil),                     // 5 lanes, contiguous
        ]
        for (bufA, bcA, bufB, bcB, py) in cases {
            let a = rng.tensor(bufA), b = rng.tensor(bufB)
            let la = permuted(a, p), lb = permuted(b, p)
            let ref = reference(la.values, la.shape, lb.values, lb.shape, ta: false, tb: true)
            let yView = py.map { GemmView(perm: $0, shape: ref.shape) }
            let y = Tensor(zeros: py.map { q in q.map { ref.shape[$0] } } ?? ref.shape)
            Gemm.matmul(a, GemmView(perm: p, shape: bcA ?? la.shape), b, GemmView(perm: p, shape: bcB ?? lb.shape),
                        transA: false, transB: true, y, yView)
            let got = py.map { permuted(y, inverse($0)).values } ?? y.scalars
            XCTAssertLessThan(relativeL2(got, ref.values), 1e-6, "A \(bufA) B \(bufB) y \(String(describing: py))")
        }
    }

    /// The few-rows path (`SmallMGemm`: ≤ 8 result rows, 16 columns, long contraction) through
    /// views: attention's P·V and Pᵀ·dO per head, B through the head-split view, the result
    /// merged back, A plain or transposed, a broadcast batch and m = 8, 1.
    func testFewRowsThroughViews() {
        let p = [0, 2, 1, 3], id = [0, 1, 2, 3]
        let cases: [([Int], [Int], [Int]?, [Int], Bool)] = [
            ([2, 3, 7, 300], id, nil, [2, 300, 3, 16], false),              // P·V
            ([2, 3, 300, 7], id, nil, [2, 300, 3, 16], true),               // Pᵀ·dO
            ([2, 3, 8, 70], id, nil, [1, 70, 3, 16], false),                // 8 rows, broadcast B
            ([2, 3, 65, 1], id, nil, [2, 65, 3, 16], true),                 // 1 row
        ]
        for (bufA, pa, bcA, bufB, ta) in cases {
            let a = rng.tensor(bufA), b = rng.tensor(bufB)
            let la = permuted(a, pa), lb = permuted(b, p)
            let bShape = [bufA[0], bufB[2], bufB[1], bufB[3]]
            let lbb = (shape: bShape, values: bufB[0] == bufA[0] ? lb.values : (0..<bufA[0]).flatMap { _ in lb.values })
            let ref = reference(la.values, la.shape, lbb.values, lbb.shape, ta: ta, tb: false)
            let yView = GemmView(perm: p, shape: ref.shape)
            let y = Tensor(zeros: p.map { ref.shape[$0] })
            Gemm.matmul(a, GemmView(perm: pa, shape: bcA ?? la.shape), b, GemmView(perm: p, shape: bShape),
                        transA: ta, transB: false, y, yView)
            XCTAssertLessThan(relativeL2(permuted(y, inverse(p)).values, ref.values), 1e-6, "A \(bufA) ta \(ta) B \(bufB)")
        }
    }

    func inverse(_ p: [Int]) -> [Int] {
        var inv = [Int](repeating: 0, count: p.count)
        for (i, x) in p.enumerated() { inv[x] = i }
        return inv
    }

    /// Multi-head attention written with primitives, a shared (broadcast) key/value input and a
    /// transposed product: the fused plan has no permute or broadcast steps and agrees with the
    /// unfused plan.
    func testAttentionPermutesFoldIntoMatmuls() throws {
        let (b, n, m, h, d) = (3, 5, 40, 2, 8)
        let g = Graph()
        let x = g.input("x", [b, n, h * d]), kv = g.input("kv", [1, m, h * d])
        func heads(_ v: Value, _ rows: Int) throws -> Value {
            try g.permute(g.reshape(v, [g.shape(v)[0], rows, h, d]), [0, 2, 1, 3])
        }
        let q = try heads(x, n)
        let k = try g.broadcast(heads(kv, m), [b, h, m, d])
        let p = try g.softmax(g.matmul(q, k, transposeB: true), axis: -1)          // [b, h, n, m]
        let o = try g.matmul(p, k)                                                  // [b, h, n, d]
        let t = try g.matmul(p, q, transposeA: true)                                // [b, h, m, d]
        g.output("o", try g.reshape(g.permute(o, [0, 2, 1, 3]), [b, n, h * d]))
        g.output("t", try g.permute(t, [0, 2, 1, 3]))
        let fused = try Compiler.compile(g), plain = try Compiler.compile(g, fuse: false)
        let views = fused.steps.filter { if case .matmulView = $0.kernel { return true }; return false }.count
        XCTAssertEqual(views, 3, fused.description)
        XCTAssertFalse(fused.steps.contains { if case .permute = $0.kernel { return true }; return false }, fused.description)
        XCTAssertFalse(fused.steps.contains { $0.kernel == .broadcast }, fused.description)
        let bind = ["x": rng.tensor([b, n, h * d]), "kv": rng.tensor([1, m, h * d])]
        let a = try Executor(fused).run(bind), r = try Executor(plain).run(bind)
        for name in ["o", "t"] {
            XCTAssertEqual(a[name]!.shape, r[name]!.shape)
            XCTAssertLessThan(relativeL2(a[name]!.scalars, r[name]!.scalars), 1e-6, name)
        }
        XCTAssertEqual(fused.totalFLOPs, plain.totalFLOPs, "views change addresses, not arithmetic")
    }
}
