import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// The layer-norm group: one step per layer norm in inference plans, agreeing with the unfused
/// primitives and with a Double reference; left alone where backward reads the intermediates.
final class LayerNormFusionTests: XCTestCase {
    var rng = SeededRNG(seed: 31)

    func isNorm(_ k: Kernel) -> Bool { if case .layerNorm = k { return true }; return false }

    /// Double reference over axis `a` of x viewed [outer, C, inner].
    func reference(_ x: Tensor, axis a: Int, eps: Double, w: Tensor?, b: Tensor?) -> [Float] {
        let s = x.shape, c = s[a], outer = s[..<a].reduce(1, *), inner = s[(a + 1)...].reduce(1, *)
        let xs = x.scalars.map(Double.init)
        var y = [Float](repeating: 0, count: xs.count)
        for o in 0..<outer {
            for j in 0..<inner {
                let idx = (0..<c).map { (o * c + $0) * inner + j }
                let mean = idx.reduce(0) { $0 + xs[$1] } / Double(c)
                let v = idx.reduce(0) { $0 + (xs[$1] - mean) * (xs[$1] - mean) } / Double(c)
                for (k, i) in idx.enumerated() {
                    var t = (xs[i] - mean) / (v + eps).squareRoot()
                    if let w { t *= Double(w.scalars[k]) }
                    if let b { t += Double(b.scalars[k]) }
                    y[i] = Float(t)
                }
            }
        }
        return y
    }

    func testFusedLayerNormsAgree() throws {
        // last axis with and without affine (C not a multiple of 16), LayerNorm2d with H·W below,
        // at and above a multiple of 16
        let cases: [(shape: [Int], axis: Int, affine: Bool)] = [([3, 5, 40], 2, true), ([7, 24], 1, false), ([2, 8, 3, 5], 1, true),
                                                                 ([1, 12, 4, 4], 1, true), ([2, 6, 5, 7], 1, false)]
        for c in cases {
            let g = Graph()
            let x = g.input("x", c.shape)
            let ch = c.shape[c.axis]
            let w = c.affine ? g.input("w", [ch]) : nil, b = c.affine ? g.input("b", [ch]) : nil
            let y = c.axis == c.shape.count - 1 ? try g.layerNorm(x, weight: w, bias: b, eps: 1e-5)
                                                : try g.layerNorm2d(x, weight: w, bias: b, eps: 1e-6)
            g.output("y", try g.relu(y))     // a reader after it, so the root is not an output itself
            var bind = ["x": rng.tensor(c.shape, -3, 3)]
            if c.affine { bind["w"] = rng.tensor([ch]); bind["b"] = rng.tensor([ch]) }
            let fp = try Compiler.compile(g, fuse: true), up = try Compiler.compile(g, fuse: false)
            XCTAssertEqual(fp.steps.filter { isNorm($0.kernel) }.count, 1, "\(c): \(fp.description)")
            XCTAssertFalse(fp.steps.contains { if case .reduce = $0.kernel { return true }; return false }, fp.description)
            let fused = try Executor(fp).run(bind)["y"]!, plain = try Executor(up).run(bind)["y"]!
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6, "\(c)")
            let ref = reference(bind["x"]!, axis: c.axis, eps: c.axis == c.shape.count - 1 ? 1e-5 : 1e-6, w: bind["w"], b: bind["b"]).map { max($0, 0) }
            XCTAssertLessThan(relativeL2(fused.scalars, ref), 1e-6, "\(c)")
        }
    }

    func testBackwardKeepsThePrimitives() throws {
        let g = Graph()
        let x = g.input("x", [4, 10]), w = g.input("w", [10])
        let y = try g.layerNorm(x, weight: w, bias: nil)
        let loss = try g.sumAll(g.square(y))
        let grads = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: [x, w])
        g.output("y", try g.add(g.sumAll(grads[0]!), g.sumAll(grads[1]!)))
        let fp = try Compiler.compile(g, fuse: true)
        XCTAssertFalse(fp.steps.contains { isNorm($0.kernel) }, "backward reads xc and the rsqrt: \(fp.description)")
        let bind = ["x": rng.tensor([4, 10]), "w": rng.tensor([10])]
        let a = try Executor(fp).run(bind)["y"]!, b = try Executor(try Compiler.compile(g, fuse: false)).run(bind)["y"]!
        XCTAssertEqual(a.scalars[0], b.scalars[0], accuracy: 1e-4 * max(1, abs(b.scalars[0])))
    }

    func testSharedIntermediateIsNotFused() throws {
        // the variance is also an output: no fusion, same numbers
        let g = Graph()
        let x = g.input("x", [3, 16])
        let mu = try g.mean(x, axes: [1], keepDims: true)
        let xc = try g.sub(x, mu)
        let v = try g.mean(g.square(xc), axes: [1], keepDims: true)
        g.output("y", try g.mul(xc, g.rsqrt(g.affine(v, scale: 1, shift: 1e-5))))
        g.output("v", v)
        XCTAssertFalse(try Compiler.compile(g, fuse: true).steps.contains { isNorm($0.kernel) })
    }
}
