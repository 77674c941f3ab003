import Graph
import Tensor

/// SAM's two-way transformer (segment-anything `modeling/transformer.py`): prompt tokens and image
/// tokens attend to each other; attention projections may downsample the channel width.
extension ModelBuilder {
    /// `Attention(embedding_dim, heads, downsample_rate)` on q [B, Nq, D], k/v [B, Nk, D].
    func decoderAttention(_ name: String, q: Value, k: Value, v: Value, dim: Int, heads: Int, downsample: Int = 1) throws -> Value {
        try scope(name) {
            let inner = dim / downsample, ch = inner / heads
            func heads_(_ x: Value) throws -> Value {
                let s = graph.shape(x)
                return try graph.permute(graph.reshape(x, [s[0], s[1], heads, ch]), [0, 2, 1, 3])   // [B, H, N, ch]
            }
            let qh = try heads_(linear("q_proj", q, dim, inner))
            let kh = try heads_(linear("k_proj", k, dim, inner))
            let vh = try heads_(linear("v_proj", v, dim, inner))
            let attn = try graph.softmax(graph.affine(graph.matmul(qh, kh, transposeB: true), scale: 1 / Float(ch).squareRoot()), axis: -1)
            let o = try graph.matmul(attn, vh)                                  // [B, H, Nq, ch]
            let s = graph.shape(o)
            let merged = try graph.reshape(graph.permute(o, [0, 2, 1, 3]), [s[0], s[2], inner])
            return try linear("out_proj", merged, inner, dim)
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
                q = try graph.add(q, decoderAttention("cross_attn_token_to_image", q: qp, k: kp, v: k, dim: dim, heads: heads, downsample: 2))
                q = try layerNorm("norm2", q, dim)
                let m = try scope("mlp") { try linear("lin2", graph.relu(linear("lin1", q, dim, mlpDim)), mlpDim, dim) }
                q = try layerNorm("norm3", graph.add(q, m), dim)
                qp = try graph.add(q, tokens); kp = try graph.add(k, kpe)
                k = try graph.add(k, decoderAttention("cross_attn_image_to_token", q: kp, k: qp, v: q, dim: dim, heads: heads, downsample: 2))
                k = try layerNorm("norm4", k, dim)
                return (q, k)
            }
        }
        let qp = try graph.add(queries, tokens), kp = try graph.add(keys, kpe)
        queries = try graph.add(queries, decoderAttention("final_attn_token_to_image", q: qp, k: kp, v: keys, dim: dim, heads: heads, downsample: 2))
        queries = try layerNorm("norm_final_attn", queries, dim)
        return (queries, keys)
    }
}
