import Graph
import Models
import Tensor
import TestSupport
import Train
import XCTest

/// SAM's decoder attention reassociated (`decoderAttentionFewQueries`: (q·W_k)·xᵀ and
/// (P·v)·W_vᵀ, key/value projections never formed; `decoderAttentionFewKeys`: out_proj folded
/// into the values, optionally q_proj into the keys) computes what the plain form computes:
/// outputs and every gradient, fused and unfused, against the plain builder as the reference.
final class DecoderAttentionTests: XCTestCase {
    typealias Build = (ModelBuilder, Value, Value, Value) throws -> Value

    /// Runs each form on the same q [b, nq, dim], k / v [b, nk, dim] and weights; the first form
    /// is the reference. Every other form's outputs and gradients must match it, and the key
    /// bias (which shifts a whole logit row) must get an exact zero gradient.
    func checkForms(seed: UInt64, b: Int, nq: Int, nk: Int, dim: Int, _ forms: [Build]) throws {
        var rng = SeededRNG(seed: seed)
        let q = rng.tensor([b, nq, dim]), k = rng.tensor([b, nk, dim]), v = rng.tensor([b, nk, dim]), t = rng.tensor([b, nq, dim])
        var weights: [String: Tensor] = [:]
        var results: [[String: Tensor]] = []
        for form in forms {
            let mb = ModelBuilder()
            let g = mb.graph
            let y = try form(mb, g.input("q", q.shape), g.input("k", k.shape), g.input("v", v.shape))
            g.output("y", y)
            g.output("loss", try g.sumAll(g.mul(y, g.input("t", t.shape))))
            var bind = ["q": q, "k": k, "v": v, "t": t]
            for (name, shape) in mb.declared {
                if weights[name] == nil { weights[name] = rng.tensor(shape, -0.3, 0.3) }
                bind[name] = weights[name]
            }
            XCTAssertEqual(mb.declared.map(\.name), ["attn.q_proj.weight", "attn.q_proj.bias", "attn.k_proj.weight", "attn.k_proj.bias",
                                                     "attn.v_proj.weight", "attn.v_proj.bias", "attn.out_proj.weight", "attn.out_proj.bias"])
            for fuse in [false, true] {
                results.append(try Session(g, loss: "loss", wrt: mb.parameterNames() + ["q", "k", "v"], fuse: fuse).run(bind))
            }
        }
        let plain = results[0]
        for (i, r) in results.enumerated().dropFirst() {
            for (key, ref) in plain where key != "grad.attn.k_proj.bias" {
                XCTAssertLessThan(relativeL2(r[key]!.scalars, ref.scalars), 1e-5, "\(key) (result \(i))")
            }
            XCTAssertEqual(r["grad.attn.k_proj.bias"]!.floats.map(abs).max(), 0, "result \(i)")
        }
    }

    func testReassociatedTokenToImageAttentionMatchesThePlainForm() throws {
        // 5 queries over 300 keys; inner 32, 8 channels per head (heads·Nq = 20 < 32)
        let (dim, heads) = (64, 4)
        try checkForms(seed: 3, b: 2, nq: 5, nk: 300, dim: dim, [
            { mb, q, k, v in try mb.decoderAttention("attn", q: q, k: k, v: v, dim: dim, heads: heads, downsample: 2) },
            { mb, q, k, v in try mb.decoderAttentionFewQueries("attn", q: q, k: k, v: v, dim: dim, heads: heads, downsample: 2) },
        ])
    }

    func testReassociatedImageToTokenAttentionMatchesThePlainForm() throws {
        // 300 queries over 5 keys, with and without q_proj folded into the keys
        let (dim, heads) = (64, 4)
        try checkForms(seed: 4, b: 2, nq: 300, nk: 5, dim: dim, [
            { mb, q, k, v in try mb.decoderAttention("attn", q: q, k: k, v: v, dim: dim, heads: heads, downsample: 2) },
            { mb, q, k, v in
                try mb.decoderAttentionFewKeys("attn", q: q, k: k, v: v, dim: dim, heads: heads, downsample: 2, reassociateQueries: false) },
            { mb, q, k, v in
                try mb.decoderAttentionFewKeys("attn", q: q, k: k, v: v, dim: dim, heads: heads, downsample: 2, reassociateQueries: true) },
        ])
    }
}
