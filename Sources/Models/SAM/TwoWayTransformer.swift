import Foundation
import Graph
import Tensor

/// SAM's two-way transformer (segment-anything `modeling/transformer.py`): prompt tokens and image
/// tokens attend to each other; attention projections may downsample the channel width.
extension ModelBuilder {
    /// `Attention(embedding_dim, heads, downsample_rate)` on q [B, Nq, D], k/v [B, Nk, D].
    public func decoderAttention(_ name: String, q: Value, k: Value, v: Value, dim: Int, heads: Int, downsample: Int = 1) throws -> Value {
        try scope(name) {
            let inner = dim / downsample, ch = inner / heads
            let qh = try splitHeads(linear("q_proj", q, dim, inner), heads)
            let kh = try splitHeads(linear("k_proj", k, dim, inner), heads)
            let vh = try splitHeads(linear("v_proj", v, dim, inner), heads)
            let attn = try graph.softmax(graph.affine(graph.matmul(qh, kh, transposeB: true), scale: 1 / Float(ch).squareRoot()), axis: -1)
            let o = try graph.matmul(attn, vh)                                  // [B, H, Nq, ch]
            let s = graph.shape(o)
            let merged = try graph.reshape(graph.permute(o, [0, 2, 1, 3]), [s[0], s[2], inner])
            return try linear("out_proj", merged, inner, dim)
        }
    }

    /// `decoderAttention` for a few queries (the prompt tokens) over many keys (the image tokens)
    /// whose keys differ per prompt, with the products reassociated so the key and value
    /// projections of the many are never formed:
    ///
    /// ```
    ///   scores_h = q_h·(x·W_k,hᵀ + b_k,h)ᵀ  =  (q_h·W_k,h)·xᵀ  + q_h·b_k,h   (a constant per query row:
    ///                                                                         softmax drops it)
    ///   out_h    = P_h·(v·W_v,hᵀ + b_v,h)   =  (P_h·v)·W_v,hᵀ + b_v,h        (rows of P sum to 1)
    /// ```
    ///
    /// Same function, same parameters; in SAM's decoder (7 tokens, 8 heads, inner 128, 4096 image
    /// tokens of 256) that is heads·Nq = 56 rows against the image tokens instead of 128 columns
    /// per projection: about 2.3× fewer FLOPs forward and backward.
    public func decoderAttentionFewQueries(_ name: String, q: Value, k: Value, v: Value, dim: Int, heads: Int, downsample: Int) throws -> Value {
        try scope(name) {
            let inner = dim / downsample, ch = inner / heads
            let (b, nq, nk) = (graph.shape(q)[0], graph.shape(q)[1], graph.shape(k)[1])
            let qh = try splitHeads(linear("q_proj", q, dim, inner), heads)                          // [B, H, Nq, ch]
            let wk = linearParameters("k_proj", dim, inner).weight
            let (wv, bv) = linearParameters("v_proj", dim, inner)
            let qk = try graph.matmul(qh, graph.reshape(wk, [1, heads, ch, dim]))                    // [B, H, Nq, D]
            let logits = try graph.reshape(graph.matmul(graph.reshape(qk, [b, heads * nq, dim]), k, transposeB: true), [b, heads, nq, nk])
            let attn = try graph.softmax(graph.affine(logits, scale: 1 / Float(ch).squareRoot()), axis: -1)
            let pv = try graph.reshape(graph.matmul(graph.reshape(attn, [b, heads * nq, nk]), v), [b, heads, nq, dim])
            let o = try graph.add(graph.matmul(pv, graph.reshape(wv, [1, heads, ch, dim]), transposeB: true),
                                  graph.reshape(bv, [1, heads, 1, ch]))                                     // [B, H, Nq, ch]
            let merged = try graph.reshape(graph.permute(o, [0, 2, 1, 3]), [b, nq, inner])
            return try linear("out_proj", merged, inner, dim)
        }
    }

    /// `decoderAttention` for many queries (the image tokens) over a few keys (the prompt tokens),
    /// reassociated so the many are projected through the few:
    ///
    /// ```
    ///   out      = Σ_h P_h·(v_h·W_o,hᵀ) + b_o       (out_proj folded into the values: heads·Nk
    ///                                                  columns per image token instead of inner)
    ///   scores_h = x·(k_h·W_q,h)ᵀ + k_h·b_q,h        (with `reassociateQueries`: the query
    ///                                                  projection folded into the keys; k_h
    ///                                                  without its bias, a per-row constant)
    /// ```
    ///
    /// `reassociateQueries` pays when the queries differ per prompt (after the first layer); on
    /// the first layer they are the image embedding, projected once for every prompt.
    public func decoderAttentionFewKeys(_ name: String, q: Value, k: Value, v: Value, dim: Int, heads: Int, downsample: Int,
                                        reassociateQueries: Bool) throws -> Value {
        try scope(name) {
            let inner = dim / downsample, ch = inner / heads
            let (b, n, nk) = (graph.shape(q)[0], graph.shape(q)[1], graph.shape(k)[1])
            let (wq, bq) = linearParameters("q_proj", dim, inner)
            // reassociated, the key bias would reach the logits through W_q: it shifts each query
            // row alike, so it is left out (its gradient is then exactly zero, as it should be)
            let (wk, bk) = linearParameters("k_proj", dim, inner)
            let kh = try splitHeads(graph.linear(k, wk, reassociateQueries ? nil : bk), heads)
            let vh = try splitHeads(linear("v_proj", v, dim, inner), heads)
            let (wo, bo) = linearParameters("out_proj", inner, dim)
            let logits: Value                                                                  // [B, N, H, Nk]
            if reassociateQueries {
                let kq = try graph.matmul(kh, graph.reshape(wq, [1, heads, ch, dim]))            // [B, H, Nk, D]
                let s = try graph.matmul(q, graph.reshape(kq, [b, heads * nk, dim]), transposeB: true)   // [B, N, H·Nk]
                let kb = try graph.matmul(graph.reshape(bq, [1, heads, 1, ch]), kh, transposeB: true)   // [B, H, 1, Nk]
                logits = try graph.add(graph.reshape(s, [b, n, heads, nk]), graph.permute(kb, [0, 2, 1, 3]))
            } else {
                let qh = try splitHeads(graph.linear(q, wq, bq), heads)
                logits = try graph.permute(graph.matmul(qh, kh, transposeB: true), [0, 2, 1, 3])
            }
            let attn = try graph.softmax(graph.affine(logits, scale: 1 / Float(ch).squareRoot()), axis: -1)
            // W_o [D, H·ch] as [H, ch, D]: head h's columns
            let woh = try graph.permute(graph.reshape(wo, [dim, heads, ch]), [1, 2, 0])
            let vo = try graph.matmul(vh, graph.reshape(woh, [1, heads, ch, dim]))              // [B, H, Nk, D]
            let out = try graph.matmul(graph.reshape(attn, [b, n, heads * nk]), graph.reshape(vo, [b, heads * nk, dim]))
            return try graph.add(out, bo)
        }
    }

    /// `TwoWayTransformer(depth, dim, heads, mlp)`: image [B, D, h, w], pe [B, D, h, w], tokens
    /// [B, N, D] → (queries [B, N, D], keys [B, hw, D]).
    func twoWayTransformer(image: Value, pe: Value, tokens: Value, depth: Int, dim: Int, heads: Int, mlpDim: Int) throws -> (Value, Value) {
        let s = graph.shape(image)
        let keys0 = try graph.permute(graph.reshape(image, [s[0], s[1], s[2] * s[3]]), [0, 2, 1])
        let kpe = try graph.permute(graph.reshape(pe, [s[0], s[1], s[2] * s[3]]), [0, 2, 1])
        var queries = tokens, keys = keys0
        for i in 0..<depth {
            (queries, keys) = try scope("layers.\(i)") {
                var q = queries, k = keys
                if i == 0 {
                    q = try decoderAttention("self_attn", q: q, k: q, v: q, dim: dim, heads: heads)
                } else {
                    let qp = try graph.add(q, tokens)
                    q = try graph.add(q, decoderAttention("self_attn", q: qp, k: qp, v: q, dim: dim, heads: heads))
                }
                q = try layerNorm("norm1", q, dim)
                var qp = try graph.add(q, tokens), kp = try graph.add(k, kpe)
                // layer 0's keys are the image embedding, one for every prompt (projected once,
                // `broadcast-hoisting`), so there the reassociated form pays only for few prompts
                let prompts = graph.shape(q)[0], tokensHere = graph.shape(q)[1]
                let attend = reassociate(tokens: i == 0 ? prompts * tokensHere : tokensHere, heads: heads, inner: dim / 2)
                    ? decoderAttentionFewQueries : decoderAttention
                q = try graph.add(q, attend("cross_attn_token_to_image", qp, kp, k, dim, heads, 2))
                q = try layerNorm("norm2", q, dim)
                let m = try scope("mlp") { try linear("lin2", graph.relu(linear("lin1", q, dim, mlpDim)), mlpDim, dim) }
                q = try layerNorm("norm3", graph.add(q, m), dim)
                qp = try graph.add(q, tokens); kp = try graph.add(k, kpe)
                let imageToToken = reassociate(tokens: tokensHere, heads: heads, inner: dim / 2)
                    ? try decoderAttentionFewKeys("cross_attn_image_to_token", q: kp, k: qp, v: q, dim: dim, heads: heads, downsample: 2,
                                                  reassociateQueries: i > 0 || reassociate(tokens: prompts * tokensHere, heads: heads, inner: dim / 2))
                    : try decoderAttention("cross_attn_image_to_token", q: kp, k: qp, v: q, dim: dim, heads: heads, downsample: 2)
                k = try graph.add(k, imageToToken)
                k = try layerNorm("norm4", k, dim)
                return (q, k)
            }
        }
        let qp = try graph.add(queries, tokens), kp = try graph.add(keys, kpe)
        let attend = depth > 0 && reassociate(tokens: graph.shape(queries)[1], heads: heads, inner: dim / 2)
            ? decoderAttentionFewQueries : decoderAttention
        queries = try graph.add(queries, attend("final_attn_token_to_image", qp, kp, keys, dim, heads, 2))
        queries = try layerNorm("norm_final_attn", queries, dim)
        return (queries, keys)
    }

    /// The reassociated token→image attention does heads·tokens rows of work per image token
    /// where the plain one does the projections' inner width; `tokens` counts the prompt tokens
    /// of every prompt when the plain form's projection of the image is shared by all prompts
    /// (`SAMDG_DECODER_REASSOCIATE=0`: never).
    func reassociate(tokens: Int, heads: Int, inner: Int) -> Bool {
        Self.reassociation && heads * tokens < inner
    }

    static let reassociation = ProcessInfo.processInfo.environment["SAMDG_DECODER_REASSOCIATE"] != "0"

    /// [B, N, H·ch] → [B, H, N, ch]
    func splitHeads(_ x: Value, _ heads: Int) throws -> Value {
        let s = graph.shape(x)
        return try graph.permute(graph.reshape(x, [s[0], s[1], heads, s[2] / heads]), [0, 2, 1, 3])
    }
}
