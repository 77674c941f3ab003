import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// The fused attention kernel against a scalar reference, and the attention-fusion pass against
/// the unfused plans of the same graphs.
final class AttentionTests: XCTestCase {
    var rng = SeededRNG(seed: 41)

    struct Case { var batch: [Int]; var n: Int; var m: Int; var d: Int; var dv: Int; var grid: (Int, Int)?; var scale: Float; var spread: Float }

    func testKernelMatchesScalarReference() throws {
        let cases = [
            Case(batch: [3], n: 23, m: 17, d: 5, dv: 7, grid: nil, scale: 0.4, spread: 1),           // N ≠ M, M < 16
            Case(batch: [2, 2], n: 37, m: 12, d: 8, dv: 6, grid: (3, 4), scale: 0.35, spread: 1),    // rank 4, bias
            Case(batch: [1], n: 5, m: 40, d: 3, dv: 1, grid: (5, 8), scale: 1, spread: 1),
            Case(batch: [2], n: 70, m: 48, d: 16, dv: 16, grid: (3, 16), scale: 0.25, spread: 1),     // vector bias rows
            Case(batch: [3], n: 19, m: 196, d: 8, dv: 8, grid: (14, 14), scale: 0.35, spread: 1),     // SAM window
            Case(batch: [2], n: 9, m: 33, d: 4, dv: 5, grid: nil, scale: 3, spread: 10),              // large logits
            // the register-blocked path (dv a multiple of 16): row tails of both microkernels,
            // odd panel counts, 64 + 16 value columns, SAM's head size
            Case(batch: [2], n: 13, m: 45, d: 64, dv: 64, grid: (5, 9), scale: 0.125, spread: 1),
            Case(batch: [3], n: 50, m: 196, d: 64, dv: 80, grid: (14, 14), scale: 0.125, spread: 1),
            Case(batch: [1], n: 7, m: 600, d: 33, dv: 32, grid: nil, scale: 0.2, spread: 4),
        ]
        let saved = (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock)
        defer { (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = saved }
        // default tiles (one tile per item here), then tiles of 4 or 8 rows that do not divide N,
        // with key blocks of 5 (not dividing M or the bias grid's rows) or 16 (online softmax)
        for (minRows, budget, keyBlock) in [saved, (4, 0, 5), (8, 0, 16)] {
            (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = (minRows, budget, keyBlock)
            for c in cases {
                let q = rng.tensor(c.batch + [c.n, c.d], -c.spread, c.spread), k = rng.tensor(c.batch + [c.m, c.d], -c.spread, c.spread)
                let v = rng.tensor(c.batch + [c.m, c.dv])
                var inputs = [q, k, v]
                if let (kh, kw) = c.grid { inputs += [rng.tensor(c.batch + [c.n, kh], -2, 2), rng.tensor(c.batch + [c.n, kw], -2, 2)] }
                let y = try evaluate(inputs) { g, x in
                    try g.attention(q: x[0], k: x[1], v: x[2], relH: x.count == 5 ? x[3] : nil, relW: x.count == 5 ? x[4] : nil, scale: c.scale)
                }
                XCTAssertEqual(y.shape, c.batch + [c.n, c.dv])
                let ref = AttentionKernel.reference(q: q, k: k, v: v, relH: inputs.count == 5 ? inputs[3] : nil,
                                                    relW: inputs.count == 5 ? inputs[4] : nil, scale: c.scale)
                XCTAssertLessThan(relativeL2(y.scalars, ref), 2e-6, "\(c) tiles of \(AttentionKernel.tileRows(n: c.n, m: c.m)), key blocks of \(keyBlock)")
            }
        }
    }

    /// A full bias [G, N, M] repeating over the batch (TinyViT's learned biases), on both the
    /// register-blocked path (dv = 32) and the sgemm path (dv = 5), in one and several key blocks.
    func testFullBiasMatchesScalarReference() throws {
        let saved = AttentionKernel.keyBlock
        defer { AttentionKernel.keyBlock = saved }
        for keyBlock in [saved, 16] {
            AttentionKernel.keyBlock = keyBlock
            for (batch, biasBatch, n, m, d, dv) in [([4, 2], [1, 2], 49, 49, 32, 32), ([3, 2], [2], 9, 40, 6, 5), ([2], [2], 20, 33, 16, 16)] {
                let q = rng.tensor(batch + [n, d], -2, 2), k = rng.tensor(batch + [m, d], -2, 2), v = rng.tensor(batch + [m, dv])
                let b = rng.tensor(biasBatch + [n, m], -3, 3)
                let y = try evaluate([q, k, v, b]) { g, x in try g.attention(q: x[0], k: x[1], v: x[2], bias: x[3], scale: 0.3) }
                let ref = AttentionKernel.reference(q: q, k: k, v: v, relH: nil, relW: nil, bias: b, scale: 0.3)
                XCTAssertLessThan(relativeL2(y.scalars, ref), 2e-6, "\(batch) bias \(biasBatch) key blocks of \(keyBlock)")
            }
        }
    }

    func testNoKeysGivesZeros() throws {
        let y = try evaluate([rng.tensor([2, 3, 4]), Tensor(zeros: [2, 0, 4]), Tensor(zeros: [2, 0, 5])]) { g, x in
            try g.attention(q: x[0], k: x[1], v: x[2], scale: 1)
        }
        XCTAssertEqual(y.scalars, [Float](repeating: 0, count: 30))
    }

    // MARK: attention fusion

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func count(_ p: Plan, _ pred: (Kernel) -> Bool) -> Int { p.steps.filter { pred($0.kernel) }.count }
    /// plain or strided (reading q, k, v in place: `StridedAttentionTests`)
    func isAttention(_ k: Kernel) -> Bool {
        switch k { case .attention, .attentionStrided: return true; default: return false }
    }
    func isSoftmax(_ k: Kernel) -> Bool { if case .softmax = k { return true }; return false }

    /// SAM's attention with decomposed relative positions, global (h ≠ w) and windowed (several
    /// windows per image, padded).
    func testSAMAttentionIsFusedAndAgrees() throws {
        for (shape, window) in [([1, 6, 5, 8], 0), ([2, 6, 6, 8], 4)] {
            let g = Graph()
            let x = g.input("x", shape)
            let qkvW = g.input("qkv_w", [24, 8]), qkvB = g.input("qkv_b", [24]), projW = g.input("proj_w", [8, 8])
            let (h, w) = window > 0 ? (window, window) : (shape[1], shape[2])
            let rph = g.input("rph", [2 * h - 1, 4]), rpw = g.input("rpw", [2 * w - 1, 4])
            var inp = x, padded = (0, 0)
            if window > 0 { (inp, padded) = try g.windowPartition(x, window: window) }
            var y = try g.samAttention(inp, heads: 2, qkvWeight: qkvW, qkvBias: qkvB, projWeight: projW, projBias: nil,
                                       relPosH: rph, relPosW: rpw)
            if window > 0 { y = try g.windowUnpartition(y, window: window, padded: padded, original: (shape[1], shape[2])) }
            g.output("y", y)
            let bind = ["x": rng.tensor(shape), "qkv_w": rng.tensor([24, 8]), "qkv_b": rng.tensor([24]),
                        "proj_w": rng.tensor([8, 8]), "rph": rng.tensor([2 * h - 1, 4]), "rpw": rng.tensor([2 * w - 1, 4])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, pp) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(shape)")
            XCTAssertEqual(count(fp, isAttention), 1)
            XCTAssertEqual(count(fp, isSoftmax), 0)
            XCTAssertEqual(count(pp, isSoftmax), 1)
        }
    }

    /// The mask decoder's form: [B, H, N, c] heads, the scale on the scores, N ≠ M; and the scale
    /// on q and k instead.
    func testPlainAttentionIsFusedAndAgrees() throws {
        for scaleOnScores in [true, false] {
            let g = Graph()
            let q = g.input("q", [2, 3, 7, 8]), k = g.input("k", [2, 3, 11, 8]), v = g.input("v", [2, 3, 11, 5])
            let s = scaleOnScores ? try g.affine(g.matmul(q, k, transposeB: true), scale: 0.3)
                                  : try g.matmul(g.affine(q, scale: 0.5), g.affine(k, scale: 0.6), transposeB: true)
            g.output("y", try g.matmul(g.softmax(s, axis: -1), v))
            let bind = ["q": rng.tensor([2, 3, 7, 8]), "k": rng.tensor([2, 3, 11, 8]), "v": rng.tensor([2, 3, 11, 5])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, _) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
            XCTAssertEqual(count(fp, isAttention), 1)
            XCTAssertTrue(fp.steps.contains { $0.kernel == .attention(scale: 0.3) || $0.kernel == .attention(scale: 0.5 * 0.6) })
        }
    }

    /// TinyViT's attention: scores + learned bias [1, H, N, N] gathered from a table, windows in
    /// the batch: fused into one 4-operand attention that agrees with the unfused plan.
    func testFullBiasAttentionIsFusedAndAgrees() throws {
        let g = Graph()
        let q = g.input("q", [3, 2, 9, 8]), k = g.input("k", [3, 2, 9, 8]), v = g.input("v", [3, 2, 9, 8])
        let bias = g.input("b", [1, 2, 9, 9])
        let s = try g.add(g.affine(g.matmul(q, k, transposeB: true), scale: 0.35), bias)
        g.output("y", try g.matmul(g.softmax(s, axis: -1), v))
        let bind = ["q": rng.tensor([3, 2, 9, 8]), "k": rng.tensor([3, 2, 9, 8]), "v": rng.tensor([3, 2, 9, 8]), "b": rng.tensor([1, 2, 9, 9], -2, 2)]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertEqual(count(fp, isAttention), 1)
        XCTAssertEqual(count(fp, isSoftmax), 0)
        XCTAssertTrue(fp.steps.contains { $0.kernel == .attention(scale: 0.35) && $0.args.count == 4 })
        // a bias that does not broadcast as a suffix ([3, 1, 9, 9]: per window, not per head) is left alone
        let h = Graph()
        let s2 = try h.add(h.matmul(h.input("q", [3, 2, 9, 8]), h.input("k", [3, 2, 9, 8]), transposeB: true), h.input("b", [3, 1, 9, 9]))
        h.output("y", try h.matmul(h.softmax(s2, axis: -1), h.input("v", [3, 2, 9, 8])))
        XCTAssertTrue(try AttentionFusion.apply(h) === h)
    }

    /// When the probabilities are read elsewhere (an output, or a training graph's backward) the
    /// full matrix exists anyway: the pass leaves the graph alone and the plans still agree.
    func testSharedIntermediatesAreNotFused() throws {
        let g = Graph()
        let q = g.input("q", [2, 5, 4]), k = g.input("k", [2, 5, 4]), v = g.input("v", [2, 5, 4])
        let p = try g.softmax(g.matmul(q, k, transposeB: true), axis: -1)
        g.output("y", try g.matmul(p, v))
        g.output("p", p)
        XCTAssertTrue(try AttentionFusion.apply(g) === g)

        let x = rng.tensor([1, 4, 4, 8]), qkvW = rng.tensor([24, 8]), rph = rng.tensor([7, 4]), rpw = rng.tensor([7, 4])
        let t = Graph()
        let xv = t.input("x", x.shape), wv = t.input("w", qkvW.shape)
        let a = try t.samAttention(xv, heads: 2, qkvWeight: wv, qkvBias: nil, projWeight: t.constant(0.1, [8, 8]), projBias: nil,
                                   relPosH: t.input("rph", [7, 4]), relPosW: t.input("rpw", [7, 4]))
        let loss = try t.sumAll(t.square(a))
        let grads = try Autodiff.gradients(t, seeds: [(loss, t.constant(1, []))], wrt: [xv, wv])
        t.output("y", try t.add(t.sumAll(grads[0]!), t.sumAll(t.square(grads[1]!))))
        XCTAssertTrue(try AttentionFusion.apply(t) === t)
        let bind = ["x": x, "w": qkvW, "rph": rph, "rpw": rpw]
        let (fused, _) = try run(t, fuse: true, bind)
        let (plain, _) = try run(t, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
    }

    /// The rewritten graph verifies, keeps labels and outputs, and is deterministic.
    func testRewriteKeepsLabelsAndOutputs() throws {
        let g = Graph()
        g.currentLabel = "blocks.0.attn"
        let q = g.input("q", [2, 4, 6]), k = g.input("k", [2, 9, 6]), v = g.input("v", [2, 9, 3])
        let y = try g.matmul(g.softmax(g.affine(g.matmul(q, k, transposeB: true), scale: 0.5), axis: -1), v)
        g.currentLabel = nil
        g.output("y", try g.relu(y))
        g.output("k", k)
        let r = try AttentionFusion.apply(g)
        try r.verify()
        XCTAssertEqual(r.outputs.map(\.name), ["y", "k"])
        let fusedNode = r.nodes.first { if case .attention = $0.op { return true }; return false }
        XCTAssertEqual(fusedNode?.label, "blocks.0.attn")
        XCTAssertEqual(fusedNode?.shape, [2, 4, 3])
        XCTAssertEqual(try AttentionFusion.apply(g).structuralHash, r.structuralHash)
        XCTAssertFalse(r.text.contains("softmax"), r.text)
    }
}
