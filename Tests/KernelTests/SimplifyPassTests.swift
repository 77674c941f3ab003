import Compiler
import Graph
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Canonicalisation, constant folding and CSE: each rewrite on a hand-built graph, the result's
/// node census, and numerical agreement of the rewritten graph with the original.
final class SimplifyPassTests: XCTestCase {
    var rng = SeededRNG(seed: 29)

    func ops(_ g: Graph, _ name: String) -> Int { g.nodes.filter { $0.op.name == name }.count }

    func run(_ g: Graph, _ bind: [String: Tensor], fuse: Bool) throws -> Tensor {
        try Executor(try Compiler.compile(g, fuse: fuse)).run(bind)["y"]!
    }

    func testCanonicalizeRemovesNoOpsAndCollapsesChains() throws {
        let g = Graph()
        let x = g.input("x", [2, 3, 4])
        let a = try g.add(.unary(.affine(scale: 1, shift: 0)), [x])          // no-op (the builder would skip it)
        let r = try g.reshape(g.reshape(a, [6, 4]), [3, 8])                    // chain
        let p = try g.permute(g.permute(r, [1, 0]), [1, 0])                    // back to identity
        let q = try g.permute(g.permute(x, [1, 2, 0]), [2, 0, 1])              // composes to identity too
        let s = try g.permute(g.permute(x, [1, 0, 2]), [0, 2, 1])              // composes to [1, 2, 0]
        g.output("y", try g.add(g.reshape(p, [2, 3, 4]), q))
        g.output("s", s)
        let c = try Canonicalize.apply(g)
        let live = try Compiler.compile(c, fuse: false)
        XCTAssertEqual(g.nodes.filter { $0.op == .unary(.affine(scale: 1, shift: 0)) }.count, 1)
        XCTAssertFalse(live.steps.contains { if case .unary = $0.kernel { return true }; return false }, live.description)
        XCTAssertEqual(live.steps.filter { if case .permute = $0.kernel { return true }; return false }.map(\.kernel),
                       [.permute([1, 2, 0])], live.description)
        XCTAssertEqual(live.steps.filter { if case .reshape = $0.kernel { return true }; return false }.count, 0,
                       "the reshape chain ends in x's own shape: \(live.description)")
        let xv = rng.tensor([2, 3, 4])
        let before = try Executor(try Compiler.compile(g, fuse: false)).run(["x": xv])
        let after = try Executor(live).run(["x": xv])
        XCTAssertEqual(before["y"]!.scalars, after["y"]!.scalars)
        XCTAssertEqual(before["s"]!.scalars, after["s"]!.scalars)
        XCTAssertEqual(after["y"]!.scalars, xv.scalars.map { 2 * $0 })
        XCTAssertTrue(try Canonicalize.apply(c) === c, "a canonical graph is a fixed point")
    }

    func testConstantFoldingFoldsFillChains() throws {
        let g = Graph()
        let x = g.input("x", [3, 4])
        let c = try g.exp(g.add(g.constant(1, [3, 4]), g.constant(0.5, [3, 4])))          // e^1.5
        let s = try g.sum(g.broadcast(g.constant(2, [1, 4]), [3, 4]), axes: [0])          // 3·2 = 6 per column
        g.output("y", try g.add(g.mul(x, c), g.reshape(s, [1, 4])))
        let f = try ConstantFolding.apply(g)
        let plan = try Compiler.compile(f, fuse: false)
        let fills = plan.steps.compactMap { if case .fill(let v) = $0.kernel { return v }; return nil }
        XCTAssertEqual(Set(fills), [Float(Foundation.exp(1.5)), 6], plan.description)
        XCTAssertFalse(plan.steps.contains { $0.kernel == .unary(.exp) || $0.kernel == .reduce(.sum, axes: [0]) }, plan.description)
        let xv = rng.tensor([3, 4])
        let y = try Executor(plan).run(["x": xv])["y"]!
        for (a, b) in zip(y.scalars, xv.scalars) { XCTAssertEqual(a, b * Float(Foundation.exp(1.5)) + 6, accuracy: 1e-5) }
        XCTAssertLessThan(relativeL2(y.scalars, try run(g, ["x": xv], fuse: false).scalars), 1e-6)
    }

    func testCSEMergesEqualSubtreesOnly() throws {
        let g = Graph()
        let x = g.input("x", [4, 5]), w = g.parameter("w", [5, 3])
        let a = try g.relu(g.matmul(x, w)), b = try g.relu(g.matmul(x, w))               // equal trees
        let c = try g.relu(g.matmul(x, w, transposeB: false)), d = try g.sigmoid(g.matmul(x, w))
        let k1 = g.constant(0.5, [4, 3]), k2 = g.constant(0.5, [4, 3]), k3 = g.constant(0.25, [4, 3])
        g.output("y", try g.add(g.add(g.add(a, b), g.mul(c, k1)), g.add(g.mul(d, k2), k3)))
        let r = try CommonSubexpressions.apply(g)
        XCTAssertEqual(ops(r, "matmul"), 1)
        XCTAssertEqual(ops(r, "relu"), 1)
        XCTAssertEqual(ops(r, "sigmoid"), 1)
        XCTAssertEqual(ops(r, "constant"), 2, "0.5 twice merges, 0.25 stays")
        let bind = ["x": rng.tensor([4, 5]), "w": rng.tensor([5, 3])]
        XCTAssertEqual(try run(g, bind, fuse: false).scalars, try run(r, bind, fuse: false).scalars)
        XCTAssertTrue(try CommonSubexpressions.apply(r) === r)
    }

    /// The passes run in the fused pipeline: the whole fused plan still agrees with the unfused one.
    func testPipelineAgreesWithUnfusedPlan() throws {
        let g = Graph()
        let x = g.input("x", [2, 8, 6])
        let h = try g.layerNorm(g.affine(x, scale: 1, shift: 0), weight: nil, bias: nil)
        let y = try g.add(g.softmax(g.matmul(h, h, transposeB: true), axis: -1), g.exp(g.constant(0, [2, 8, 8])))
        g.output("y", try g.add(y, g.softmax(g.matmul(h, h, transposeB: true), axis: -1)))
        let bind = ["x": rng.tensor([2, 8, 6])]
        XCTAssertLessThan(relativeL2(try run(g, bind, fuse: true).scalars, try run(g, bind, fuse: false).scalars), 1e-6)
    }
}
