import Compiler
import Graph
import Runtime
import Tensor
import TestSupport
import Train
import XCTest

/// Broadcast hoisting: per-batch work on a broadcast image is done once (node census of the
/// rewritten graph), values agree with the unrewritten unfused plan, ops that mix batch elements
/// are left alone, and gradients through the hoisted training graph match finite differences.
final class BroadcastHoistingTests: XCTestCase {
    var rng = SeededRNG(seed: 41)

    /// A miniature of SAM's first decoder block: image [1, 6, 4] and a dense embedding broadcast to
    /// 3 boxes, projected to keys, split into 1 head, attended to by per-box tokens.
    func decoderLike(_ g: Graph, _ img: Value, _ dense: Value, _ w: Value, _ bias: Value, _ tok: Value) throws -> Value {
        let src = try g.add(g.broadcast(img, [3, 6, 4]), g.broadcast(g.reshape(dense, [1, 1, 4]), [3, 6, 4]))
        let k = try g.linear(g.relu(src), w, bias)                                             // [3, 6, 5]
        let kh = try g.permute(g.reshape(k, [3, 6, 1, 5]), [0, 2, 1, 3])                        // [3, 1, 6, 5]
        let q = try g.reshape(tok, [3, 1, 2, 5])
        let p = try g.softmax(g.matmul(q, kh, transposeB: true), axis: -1)                      // [3, 1, 2, 6]
        return try g.add(g.matmul(p, kh), g.reshape(g.sum(src, axes: [2], keepDims: true), [3, 1, 6, 1]).sliceRows(g))
    }

    func testHoistsPerBatchChainAndMatchesUnrewritten() throws {
        let g = Graph()
        let img = g.input("img", [1, 6, 4]), dense = g.parameter("dense", [4]), tok = g.input("tok", [3, 2, 5])
        let w = g.parameter("w", [5, 4]), b = g.parameter("b", [5])
        g.output("y", try decoderLike(g, img, dense, w, b, tok))
        let h = try BroadcastHoisting.apply(g)
        XCTAssertFalse(h === g)
        let matmuls = h.nodes.filter { if case .matmul = $0.op { return true }; return false }.map(\.shape)
        XCTAssertTrue(matmuls.contains([1, 6, 5]), "the projection runs on one batch element: \(matmuls)")
        XCTAssertFalse(matmuls.contains([3, 6, 5]), "\(matmuls)")
        XCTAssertTrue(h.nodes.contains { $0.op == .permute(perm: [0, 2, 1, 3]) && $0.shape == [1, 1, 6, 5] })
        XCTAssertTrue(h.nodes.contains { $0.op == .unary(.relu) && $0.shape == [1, 6, 4] })
        // the per-box products stay per box
        XCTAssertTrue(h.nodes.contains { if case .matmul = $0.op { return $0.shape == [3, 1, 2, 6] }; return false })
        let bind = ["img": rng.tensor([1, 6, 4]), "dense": rng.tensor([4]), "tok": rng.tensor([3, 2, 5]),
                    "w": rng.tensor([5, 4]), "b": rng.tensor([5])]
        let before = try Executor(try Compiler.compile(g, fuse: false)).run(bind)["y"]!
        let after = try Executor(try Compiler.compile(h, fuse: false)).run(bind)["y"]!
        XCTAssertEqual(after.shape, before.shape)
        XCTAssertLessThan(relativeL2(after.scalars, before.scalars), 1e-6)
        XCTAssertTrue(try BroadcastHoisting.apply(h) === h, "a hoisted graph is a fixed point")
    }

    func testLeavesBatchMixingOpsAlone() throws {
        let g = Graph()
        let x = g.input("x", [1, 3, 4]), other = g.input("o", [2, 3, 4])
        let bx = try g.broadcast(x, [2, 3, 4])
        let a = try g.add(bx, other)                                  // the other operand varies per batch
        let s = try g.sum(bx, axes: [0], keepDims: true)              // sums over the broadcast axis
        let p = try g.permute(bx, [1, 0, 2])                          // moves the batch axis
        let r = try g.reshape(bx, [6, 4])                             // merges it
        let m = try g.matmul(bx, other, transposeB: true)              // per-batch right operand
        g.output("a", a); g.output("s", s); g.output("p", p); g.output("r", r); g.output("m", m)
        let h = try BroadcastHoisting.apply(g)
        XCTAssertTrue(h === g, "nothing may be hoisted: \(h.text)")
    }

    /// Hoisting before autodiff (fused `Session`): the gradient of the shared image path is one
    /// sum over the boxes; every gradient still matches central differences.
    func testTrainingGradientsThroughHoistedGraph() throws {
        let inputs = [rng.tensor([1, 6, 4]), rng.tensor([4]), rng.tensor([5, 4]), rng.tensor([5]), rng.tensor([3, 2, 5])]
        let r = try gradCheck(inputs, h: 1e-2) { g, v in try decoderLike(g, v[0], v[1], v[2], v[3], v[4]) }
        XCTAssertLessThan(r.worst, 2e-2, r.description)
        // the session really differentiates the hoisted graph
        let g = Graph()
        let vs = inputs.enumerated().map { g.input("x\($0.offset)", $0.element.shape) }
        g.output("y", try g.sum(decoderLike(g, vs[0], vs[1], vs[2], vs[3], vs[4]), axes: [0, 1, 2, 3]))
        let fused = try Session(g, loss: "y", wrt: ["x2", "x3"])
        let unfused = try Session(g, loss: "y", wrt: ["x2", "x3"], fuse: false)
        XCTAssertTrue(fused.graph.nodes.contains { if case .matmul = $0.op { return $0.shape == [1, 6, 5] }; return false })
        XCTAssertFalse(fused.graph.nodes.contains { if case .matmul = $0.op { return $0.shape == [3, 6, 5] }; return false })
        var bind: [String: Tensor] = [:]
        for (i, t) in inputs.enumerated() { bind["x\(i)"] = t }
        let a = try fused.run(bind), b = try unfused.run(bind)
        for n in ["y", "grad.x2", "grad.x3"] {
            XCTAssertLessThan(relativeL2(a[n]!.scalars, b[n]!.scalars), 1e-5, n)
        }
    }
}

private extension Value {
    /// [3, 1, 6, 1] → [3, 1, 2, 1]: rows 0 and 1 of the per-position sums (a slice that keeps axis 0).
    func sliceRows(_ g: Graph) throws -> Value { try g.slice(self, dims: [2], starts: [0], ends: [2]) }
}

/// Slice sinking: SAM's single-mask selection of `hyper_in @ upscaled` computes only the kept
/// mask; values and gradients agree with the unrewritten graph, and the dead hypernetwork branch
/// gets an exact zero gradient.
final class SliceSinkingTests: XCTestCase {
    var rng = SeededRNG(seed: 47)

    /// tokens [2, 3, 4] → per-token linear "hypernetworks" → concat [2, 3, 5] @ up [2, 5, 36]
    /// → reshape [2, 3, 6, 6] → first mask [2, 1, 6, 6]
    func masks(_ g: Graph, _ tok: Value, _ ws: [Value], _ up: Value) throws -> Value {
        var hyper: [Value] = []
        for (i, w) in ws.enumerated() {
            let t = try g.reshape(g.slice(tok, dims: [1], starts: [i], ends: [i + 1]), [2, 4])
            hyper.append(try g.reshape(g.tanh(g.linear(t, w)), [2, 1, 5]))
        }
        let m = try g.reshape(g.matmul(g.concat(hyper, axis: 1), up), [2, 3, 6, 6])
        return try g.slice(m, dims: [1], starts: [0], ends: [1])
    }

    func testOnlyTheKeptMaskIsComputed() throws {
        let g = Graph()
        let tok = g.input("tok", [2, 3, 4]), up = g.input("up", [2, 5, 36])
        let ws = (0..<3).map { g.parameter("w\($0)", [5, 4]) }
        g.output("y", try masks(g, tok, ws, up))
        let s = try SliceSinking.apply(g)
        let live = try Compiler.compile(s, fuse: false)
        let products = live.steps.filter { if case .matmul = $0.kernel { return true }; return false }.map { live.slotShapes[$0.out] }
        XCTAssertTrue(products.contains([2, 1, 36]), "\(products)")
        XCTAssertFalse(products.contains([2, 3, 36]), "\(products)")
        XCTAssertEqual(live.steps.filter { $0.kernel == .unary(.tanh) }.count, 1, "the other two hypernetworks are dead")
        var bind = ["tok": rng.tensor([2, 3, 4]), "up": rng.tensor([2, 5, 36])]
        for i in 0..<3 { bind["w\(i)"] = rng.tensor([5, 4]) }
        let before = try Executor(try Compiler.compile(g, fuse: false)).run(bind)["y"]!
        let after = try Executor(live).run(bind)["y"]!
        XCTAssertEqual(after.shape, [2, 1, 6, 6])
        XCTAssertLessThan(relativeL2(after.scalars, before.scalars), 1e-6)
        // training: gradients through the sunk slice match the unfused (unrewritten) session
        let t = Graph()
        let tv = t.input("tok", [2, 3, 4]), uv = t.input("up", [2, 5, 36])
        let wv = (0..<3).map { t.parameter("w\($0)", [5, 4]) }
        t.output("loss", try t.sumAll(t.square(masks(t, tv, wv, uv))))
        let wrt = ["w0", "w1", "w2", "up"]
        let fused = try Session(t, loss: "loss", wrt: wrt), plain = try Session(t, loss: "loss", wrt: wrt, fuse: false)
        let plan = fused.executor.plan
        XCTAssertFalse(plan.steps.contains { if case .matmul = $0.kernel { return plan.slotShapes[$0.out] == [2, 3, 36] }; return false },
                       "the backward works on the kept mask only: \(plan)")
        XCTAssertTrue(plan.steps.contains { if case .matmul = $0.kernel { return plan.slotShapes[$0.out] == [2, 1, 36] }; return false })
        let a = try fused.run(bind), b = try plain.run(bind)
        for n in ["loss", "grad.w0", "grad.up"] { XCTAssertLessThan(relativeL2(a[n]!.scalars, b[n]!.scalars), 1e-5, n) }
        for n in ["grad.w1", "grad.w2"] {
            XCTAssertEqual(a[n]!.scalars, [Float](repeating: 0, count: 20), n)
            XCTAssertEqual(b[n]!.scalars, [Float](repeating: 0, count: 20), n)
        }
    }

    func testSlicesThatCutAPartOrABatchStay() throws {
        let g = Graph()
        let a = g.input("a", [2, 3, 4]), b = g.input("b", [2, 4, 5])
        let p = try g.concat([a, a], axis: 1)                                                   // [2, 6, 4]
        g.output("x", try g.slice(p, dims: [1], starts: [1], ends: [4]))                        // cuts through both parts
        g.output("y", try g.slice(g.matmul(a, b), dims: [0], starts: [0], ends: [1]))           // a batch axis
        g.output("z", try g.slice(g.reshape(g.matmul(a, b), [2, 15]), dims: [1], starts: [0], ends: [5])) // merged axes
        XCTAssertTrue(try SliceSinking.apply(g) === g)
    }
}
