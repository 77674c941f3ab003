import Graph
import Primitives
import Tensor
import TestSupport
import Train
import XCTest

/// Attention's backward against a float64 reference when the values and keys share a large
/// common vector (as SAM's image tokens do). Uncentred, dP = dO·Vᵀ carries that vector's
/// contribution in every key, and softmax_grad cancels it: the float32 gradients of q and k lose
/// ~|V|/|V − mean V| × ε. The VJPs centre V (and K for dq) along the keys, which is exact; these
/// tests fail on the uncentred rules (dq/dk errors of 1e-4 and more).
final class CenteredAttentionGradTests: XCTestCase {
    let b = 2, nq = 3, nk = 96, d = 8
    let scale: Float = 0.35

    /// q, k, v, cotangent; v = noise + a per-channel offset of ±`offset`, k with a smaller one.
    func operands(offset: Float) -> [Tensor] {
        var rng = SeededRNG(seed: 91)
        let q = rng.tensor([b, nq, d]), k = rng.tensor([b, nk, d]), v = rng.tensor([b, nk, d])
        let shiftV = rng.tensor([d]), shiftK = rng.tensor([d])
        for i in 0..<(b * nk) {
            for c in 0..<d {
                v.floats[i * d + c] += offset * shiftV.floats[c]
                k.floats[i * d + c] += 0.05 * offset * shiftK.floats[c]
            }
        }
        return [q, k, v, rng.tensor([b, nq, d])]
    }

    /// dq, dk, dv of Σ ct·softmax(scale·q·kᵀ)·v in float64.
    func reference(_ x: [Tensor]) -> [[Double]] {
        let q = x[0].doubles, k = x[1].doubles, v = x[2].doubles, ct = x[3].doubles
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
        var dv = [Double](repeating: 0, count: v.count)
        let s = Double(scale)
        for bb in 0..<b {
            for i in 0..<nq {
                let qi = (bb * nq + i) * d
                var logits = (0..<nk).map { j in (0..<d).reduce(0.0) { $0 + q[qi + $1] * k[(bb * nk + j) * d + $1] } * s }
                let m = logits.max()!
                logits = logits.map { Foundation.exp($0 - m) }
                let z = logits.reduce(0, +)
                let p = logits.map { $0 / z }
                let dp = (0..<nk).map { j in (0..<d).reduce(0.0) { $0 + ct[qi + $1] * v[(bb * nk + j) * d + $1] } }
                let dot = zip(p, dp).reduce(0.0) { $0 + $1.0 * $1.1 }
                for j in 0..<nk {
                    let ds = p[j] * (dp[j] - dot) * s
                    let kj = (bb * nk + j) * d
                    for c in 0..<d {
                        dq[qi + c] += ds * k[kj + c]
                        dk[kj + c] += ds * q[qi + c]
                        dv[kj + c] += p[j] * ct[qi + c]
                    }
                }
            }
        }
        return [dq, dk, dv]
    }

    func relativeError(_ got: Tensor, _ ref: [Double]) -> Double {
        let g = got.doubles
        let num = zip(g, ref).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (num / ref.reduce(0.0) { $0 + $1 * $1 }).squareRoot()
    }

    func run(fusedOp: Bool, fuse: Bool) throws -> [Double] {
        let x = operands(offset: 400)
        let g = Graph()
        let q = g.input("q", x[0].shape), k = g.input("k", x[1].shape), v = g.input("v", x[2].shape)
        let y: Value
        if fusedOp {
            y = try g.attention(q: q, k: k, v: v, scale: scale)
        } else {
            let p = try g.softmax(g.affine(g.matmul(q, k, transposeB: true), scale: scale), axis: -1)
            y = try g.matmul(p, v)
        }
        g.output("y", y)
        let session = try Session(g, cotangents: ["y": "ct"], wrt: ["q", "k", "v"], fuse: fuse)
        let out = try session.run(["q": x[0], "k": x[1], "v": x[2], "ct": x[3]])
        let ref = reference(x)
        return ["q", "k", "v"].enumerated().map { relativeError(out["grad.\($0.element)"]!, ref[$0.offset]) }
    }

    func testPrimitiveAttentionGradientsWithCommonValueVector() throws {
        for fuse in [false, true] {
            let e = try run(fusedOp: false, fuse: fuse)
            XCTAssertLessThan(e[0], 1e-5, "dq (fuse \(fuse)): \(e)")
            XCTAssertLessThan(e[1], 1e-5, "dk (fuse \(fuse)): \(e)")
            XCTAssertLessThan(e[2], 1e-5, "dv (fuse \(fuse)): \(e)")
        }
    }

    func testFusedAttentionOpGradientsWithCommonValueVector() throws {
        let e = try run(fusedOp: true, fuse: true)
        XCTAssertLessThan(e[0], 1e-5, "dq: \(e)")
        XCTAssertLessThan(e[1], 1e-5, "dk: \(e)")
        XCTAssertLessThan(e[2], 1e-5, "dv: \(e)")
    }

    /// A projection's weight gradient Σₜ dzₜᵀ·xₜ when dz sums to zero over the tokens t (it leaves
    /// a softmax over t) and the tokens x share a large mean: x is centred along t
    /// (`shiftFreeCentered(leftOperand:)`), as for SAM's key projections over image tokens.
    func testProjectionWeightGradientWithCommonTokenVector() throws {
        var rng = SeededRNG(seed: 5)
        let n = 2, t = 80, cin = 6, cout = 5
        let x = rng.tensor([n, t, cin]), w = rng.tensor([cout, cin]), shift = rng.tensor([cin]), ct = rng.tensor([n, t, cout])
        for i in 0..<(n * t) { for c in 0..<cin { x.floats[i * cin + c] += 300 * shift.floats[c] } }
        for fuse in [false, true] {
            let g = Graph()
            let xv = g.input("x", x.shape), wv = g.input("w", w.shape)
            let z = try g.matmul(xv, wv, transposeB: true)
            g.output("z", z)
            g.output("y", try g.softmax(z, axis: 1))
            let out = try Session(g, cotangents: ["y": "ct"], wrt: ["w"], fuse: fuse).run(["x": x, "w": w, "ct": ct])
            // float64 reference from the z this forward computed: the backward alone is checked
            let zd = out["z"]!.doubles, xd = x.doubles, cd = ct.doubles
            var dw = [Double](repeating: 0, count: cout * cin)
            for bb in 0..<n {
                for o in 0..<cout {
                    let col = (0..<t).map { zd[(bb * t + $0) * cout + o] }
                    let m = col.max()!
                    let e = col.map { Foundation.exp($0 - m) }
                    let s = e.reduce(0, +)
                    let p = e.map { $0 / s }
                    let dot = (0..<t).reduce(0.0) { $0 + p[$1] * cd[(bb * t + $1) * cout + o] }
                    for tt in 0..<t {
                        let dz = p[tt] * (cd[(bb * t + tt) * cout + o] - dot)
                        for c in 0..<cin { dw[o * cin + c] += dz * xd[(bb * t + tt) * cin + c] }
                    }
                }
            }
            XCTAssertLessThan(relativeError(out["grad.w"]!, dw), 1e-5, "dw (fuse \(fuse))")
        }
    }
}
