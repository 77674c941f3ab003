import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Sums containing a matmul become one `matmulAccumulate` step (fill with the other terms, GEMM
/// with beta = 1); plans with and without fusion agree.
final class GemmAccumulateTests: XCTestCase {
    var rng = SeededRNG(seed: 91)

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func accumulateSteps(_ p: Plan) -> [Kernel] {
        p.steps.map(\.kernel).filter { if case .matmulAccumulate = $0 { return true }; return false }
    }

    func check(_ g: Graph, _ bind: [String: Tensor], steps: Int, tol: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line) throws {
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, pp) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), tol, file: file, line: line)
        XCTAssertEqual(accumulateSteps(fp).count, steps, "\(fp)", file: file, line: line)
        XCTAssertEqual(fp.totalFLOPs, pp.totalFLOPs, file: file, line: line)
    }

    func testLinearBiasResidualAndGelu() throws {
        let x = rng.tensor([2, 5, 8]), w1 = rng.tensor([12, 8]), b1 = rng.tensor([12]), w2 = rng.tensor([8, 12]), b2 = rng.tensor([8])
        let g = Graph()
        let xv = g.input("x", x.shape)
        let h = try g.gelu(g.linear(xv, g.input("w1", w1.shape), g.input("b1", b1.shape)))     // gelu(x·w1ᵀ + b1)
        let y = try g.add(xv, g.linear(h, g.input("w2", w2.shape), g.input("b2", b2.shape)))   // x + (h·w2ᵀ + b2)
        g.output("y", try g.mul(y, g.constant(0.5, [2, 5, 8])))
        try check(g, ["x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2], steps: 2)
        let (_, plan) = try run(g, fuse: true, ["x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2])
        XCTAssertTrue(plan.steps.contains { "\($0.kernel)" == "matmul·ᵀ + 2 terms" }, "\(plan)")      // residual + bias summed in the fill
        XCTAssertFalse(plan.steps.contains { if case .matmul = $0.kernel { return true }; return false })
    }

    /// linear → GELU: the activation joins the step (small and large products, a batched
    /// product); a sum read twice keeps its own GELU step.
    func testActivationJoinsTheStep() throws {
        for (xs, n) in [([2, 5, 8], 12), ([2, 9000, 8], 64)] {
            let x = rng.tensor(xs), w = rng.tensor([n, 8]), b = rng.tensor([n])
            let g = Graph()
            g.output("y", try g.gelu(g.linear(g.input("x", x.shape), g.input("w", w.shape), g.input("b", b.shape))))
            try check(g, ["x": x, "w": w, "b": b], steps: 1)
            let (_, plan) = try run(g, fuse: true, ["x": x, "w": w, "b": b])
            XCTAssertEqual(plan.steps.map { "\($0.kernel)" }.filter { $0.hasPrefix("matmul") }, ["matmul·ᵀ + 1 term → geluErf"])
        }
        let a = rng.tensor([3, 4, 6]), c = rng.tensor([3, 6, 5]), r = rng.tensor([3, 4, 5])
        let g = Graph()
        let s = try g.add(g.matmul(g.input("a", a.shape), g.input("c", c.shape)), g.input("r", r.shape))
        g.output("y", try g.relu(s))
        try check(g, ["a": a, "c": c, "r": r], steps: 1)
        let h = Graph()
        let s2 = try h.add(h.matmul(h.input("a", a.shape), h.input("c", c.shape)), h.input("r", r.shape))
        h.output("y", try h.add(h.relu(s2), s2))
        let (_, plan) = try run(h, fuse: true, ["a": a, "c": c, "r": r])
        XCTAssertFalse(plan.steps.contains { "\($0.kernel)".contains("→") }, "\(plan)")
    }

    /// Broadcast batch (one B for a stack of A), a transposed A, and a full-shape addend.
    func testBatchedAndTransposedProducts() throws {
        let a = rng.tensor([3, 4, 6]), b = rng.tensor([3, 4, 5]), c = rng.tensor([3, 6, 5]), w = rng.tensor([5, 7]), r = rng.tensor([1, 7])
        let g = Graph()
        let av = g.input("a", a.shape), bv = g.input("b", b.shape), cv = g.input("c", c.shape)
        let p1 = try g.add(cv, g.matmul(av, bv, transposeA: true))                 // c + aᵀ·b  [3, 6, 5]
        let p2 = try g.add(g.matmul(p1, g.input("w", w.shape)), g.input("r", r.shape))   // [3, 6, 7] + [1, 7]
        g.output("y", p2)
        try check(g, ["a": a, "b": b, "c": c, "w": w, "r": r], steps: 2)
    }

    /// A product read elsewhere, a product that is an output, or an add that broadcasts the
    /// product stay plain.
    /// A residual that is a batch broadcast of one image's tokens (SAM's decoder keys after
    /// broadcast hoisting) is filled by strides: no broadcast step remains.
    func testBroadcastTermIsReadThrough() throws {
        let h = rng.tensor([3, 6, 4]), w = rng.tensor([5, 4]), r = rng.tensor([1, 6, 5])
        let g = Graph()
        let res = try g.broadcast(g.input("r", r.shape), [3, 6, 5])
        g.output("y", try g.add(res, g.linear(g.input("h", h.shape), g.input("w", w.shape))))
        try check(g, ["h": h, "w": w, "r": r], steps: 1)
        let (_, plan) = try run(g, fuse: true, ["h": h, "w": w, "r": r])
        XCTAssertFalse(plan.steps.contains { $0.kernel == .broadcast }, "\(plan)")
    }

    func testSharedOrBroadcastProductsStayPlain() throws {
        let a = rng.tensor([4, 3]), b = rng.tensor([3, 5]), big = rng.tensor([2, 4, 5])
        let g = Graph()
        let m = try g.matmul(g.input("a", a.shape), g.input("b", b.shape))
        let s = try g.add(m, g.input("big", big.shape))          // m broadcast: [2, 4, 5]
        g.output("y", try g.add(s, g.sumAll(m)))                  // m read twice
        try check(g, ["a": a, "b": b, "big": big], steps: 0)
        let h = Graph()
        let m2 = try h.matmul(h.input("a", a.shape), h.input("b", b.shape))
        h.output("m", m2)
        h.output("y", try h.add(m2, h.constant(1, [4, 5])))
        try check(h, ["a": a, "b": b], steps: 0)
    }

    /// Backward graphs are full of gradient sums with matmul terms: they take the same path.
    func testGradientGraphsAgree() throws {
        let x = rng.tensor([3, 6]), w1 = rng.tensor([6, 6]), w2 = rng.tensor([6, 6])
        let g = Graph()
        let xv = g.input("x", x.shape), w1v = g.input("w1", w1.shape), w2v = g.input("w2", w2.shape)
        let h = try g.tanh(g.add(g.linear(xv, w1v), xv))
        let y = try g.sumAll(g.square(g.add(g.linear(h, w2v), g.linear(h, w1v))))
        let grads = try Autodiff.gradients(g, seeds: [(y, g.constant(1, []))], wrt: [xv, w1v])
        g.output("y", try g.add(g.sumAll(grads[0]!), g.sumAll(g.square(grads[1]!))))
        let (fused, fp) = try run(g, fuse: true, ["x": x, "w1": w1, "w2": w2])
        let (plain, _) = try run(g, fuse: false, ["x": x, "w1": w1, "w2": w2])
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
        XCTAssertGreaterThan(accumulateSteps(fp).count, 2)
        // a training plan keeps the unfused summation order: no accumulate steps, the same sums
        let tp = try Compiler.compile(g, fuse: true, training: true)
        XCTAssertEqual(accumulateSteps(tp).count, 0)
        let trained = try Executor(tp).run(["x": x, "w1": w1, "w2": w2])["y"]!
        XCTAssertLessThan(relativeL2(trained.scalars, plain.scalars), 1e-6)
    }
}
