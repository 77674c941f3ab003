import Graph
import Models
import Tensor
import TestSupport
import Train
import XCTest

/// SAM's token→image attention reassociated for few queries (`decoderAttentionFewQueries`:
/// (q·W_k)·xᵀ and (P·v)·W_vᵀ, key/value projections never formed) computes what the plain form
/// computes: outputs and every gradient, against the plain builder as the reference.
final class DecoderAttentionTests: XCTestCase {
    func testReassociatedTokenToImageAttentionMatchesThePlainForm() throws {
        var rng = SeededRNG(seed: 3)
        let (b, nq, nk, dim, heads) = (2, 5, 300, 64, 4)          // inner 32, 8 channels per head
        let q = rng.tensor([b, nq, dim]), k = rng.tensor([b, nk, dim]), v = rng.tensor([b, nk, dim])
        let t = rng.tensor([b, nq, dim])
        var weights: [String: Tensor] = [:]
        var results: [[String: Tensor]] = []
        for reassociated in [false, true] {
            let mb = ModelBuilder()
            let g = mb.graph
            let qv = g.input("q", q.shape), kv = g.input("k", k.shape), vv = g.input("v", v.shape)
            let y = reassociated
                ? try mb.decoderAttentionFewQueries("attn", q: qv, k: kv, v: vv, dim: dim, heads: heads, downsample: 2)
                : try mb.decoderAttention("attn", q: qv, k: kv, v: vv, dim: dim, heads: heads, downsample: 2)
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
            // the key bias shifts every logit of a query row alike: no gradient, exactly
            XCTAssertEqual(r["grad.attn.k_proj.bias"]!.floats.map(abs).max(), 0, "result \(i)")
        }
    }

    /// Image→token attention (many queries, few keys) with out_proj folded into the values and,
    /// optionally, q_proj into the keys (`decoderAttentionFewKeys`), against the plain form.
    func testReassociatedImageToTokenAttentionMatchesThePlainForm() throws {
        var rng = SeededRNG(seed: 4)
        let (b, n, nk, dim, heads) = (2, 300, 5, 64, 4)
        let q = rng.tensor([b, n, dim]), k = rng.tensor([b, nk, dim]), v = rng.tensor([b, nk, dim]), t = rng.tensor([b, n, dim])
        var weights: [String: Tensor] = [:]
        var results: [[String: Tensor]] = []
        for form in 0..<3 {
            let mb = ModelBuilder()
            let g = mb.graph
            let qv = g.input("q", q.shape), kv = g.input("k", k.shape), vv = g.input("v", v.shape)
            let y = form == 0
                ? try mb.decoderAttention("attn", q: qv, k: kv, v: vv, dim: dim, heads: heads, downsample: 2)
                : try mb.decoderAttentionFewKeys("attn", q: qv, k: kv, v: vv, dim: dim, heads: heads, downsample: 2, reassociateQueries: form == 2)
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
}
