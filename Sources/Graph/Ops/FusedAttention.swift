import Tensor
import Primitives

extension Graph {
    /// Fused scaled-dot-product attention, `softmax(scale·q·kᵀ + bias)·v`, over the last two axes
    /// (equal leading batch dims). With `relH` [… N, kh] and `relW` [… N, kw] (kh·kw = M keys) the
    /// bias is SAM's decomposed relative position, `bias[n, i·kw + j] = relH[n, i] + relW[n, j]`.
    ///
    /// ```swift
    /// let o = try g.attention(q: q, k: k, v: v, scale: 1 / 8)          // [BH, N, dv]
    /// ```
    ///
    /// The compiler's `AttentionFusion` pass also rewrites the primitive form
    /// (matmul → scale → (+ rel-pos) → softmax → matmul) into this op.
    public func attention(q: Value, k: Value, v: Value, relH: Value? = nil, relW: Value? = nil, scale: Float) throws -> Value {
        guard (relH == nil) == (relW == nil) else {
            throw SamdgError("attention", "relH and relW come together (the decomposed relative-position bias)")
        }
        return try add(.attention(scale: scale), [q, k, v] + (relH.map { [$0] } ?? []) + (relW.map { [$0] } ?? []))
    }

    /// Fused attention with an additive bias on the logits, `softmax(scale·q·kᵀ + bias)·v`, as
    /// TinyViT's learned attention biases: `bias` is [… N, M] with batch dims that broadcast to
    /// q's as a suffix (leading 1s, then q's trailing batch dims), e.g. [1, H, N, M] for q
    /// [windows, H, N, d].
    public func attention(q: Value, k: Value, v: Value, bias: Value, scale: Float) throws -> Value {
        try add(.attention(scale: scale), [q, k, v, bias])
    }

    /// The attention logits `scale·q·kᵀ (+ relH[n, i] + relW[n, j])` [… N, M] built from primitives:
    /// what the fused op computes tile by tile, and what its VJP recomputes.
    public func attentionScores(q: Value, k: Value, relH: Value?, relW: Value?, bias: Value? = nil, scale: Float) throws -> Value {
        let s = try affine(matmul(q, k, transposeB: true), scale: scale)
        if let bias { return try add(s, bias) }
        guard let relH, let relW else { return s }
        let ss = shape(s), batchN = Array(ss.dropLast()), m = ss[ss.count - 1]
        let kh = shape(relH).last!, kw = shape(relW).last!
        let grid = try reshape(s, batchN + [kh, kw])
        let biased = try add(add(grid, reshape(relH, batchN + [kh, 1])), reshape(relW, batchN + [1, kw]))
        return try reshape(biased, batchN + [m])
    }

    /// VJP by recomputation: P = softmax(scores) is rebuilt (the forward never keeps it), then
    /// dV = Pᵀ·dO, dP = dO·(v − mean v)ᵀ, dS = softmax_grad(P, dP), dq = scale·dS·(k − mean k), dk = scale·dSᵀ·q,
    /// drelH / drelW = dS summed over the other key axis (kw / kh).
    func vjpAttention(_ node: Node, out: Value, dy: Value, needs: [Bool]) throws -> [Value?] {
        guard case .attention(let scale) = node.op else { fatalError("vjpAttention on \(node.op.name)") }
        let q = node.inputs[0], k = node.inputs[1], v = node.inputs[2]
        let relH = node.inputs.count == 5 ? node.inputs[3] : nil, relW = node.inputs.count == 5 ? node.inputs[4] : nil
        let bias = node.inputs.count == 4 ? node.inputs[3] : nil
        var grads = [Value?](repeating: nil, count: node.inputs.count)
        let p = try softmax(attentionScores(q: q, k: k, relH: relH, relW: relW, bias: bias, scale: scale), axis: -1)
        if needs[2] { grads[2] = try matmul(p, dy, transposeA: true) }
        guard needs[0] || needs[1] || needs.dropFirst(3).contains(true) else { return grads }
        // v and k centred along the keys: exact, and far better conditioned (`shiftFreeCentered`)
        let vc = try centred(v, along: shape(v).count - 2)
        let ds = try add(.softmaxGrad(axis: -1), [p, matmul(dy, vc, transposeB: true)])    // [… N, M]
        if needs[0] || needs[1] {
            let dss = try affine(ds, scale: scale)
            if needs[0] { grads[0] = try matmul(dss, centred(k, along: shape(k).count - 2)) }
            if needs[1] { grads[1] = try matmul(dss, q, transposeA: true) }
        }
        if let bias, needs[3] { grads[3] = try reduceTo(ds, shape(bias)) }
        if let relH, let relW {
            let r = shape(ds).count
            let grid = try reshape(ds, Array(shape(ds).dropLast()) + [shape(relH)[r - 1], shape(relW)[r - 1]])
            if needs[3] { grads[3] = try sum(grid, axes: [r]) }
            if needs[4] { grads[4] = try sum(grid, axes: [r - 1]) }
        }
        return grads
    }
}
