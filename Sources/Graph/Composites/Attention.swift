import Tensor

/// segment-anything's image-encoder attention (Kirillov et al., "Segment Anything", 2023,
/// `modeling/image_encoder.py`): windowing helpers and multi-head attention with decomposed
/// relative positions, as graphs of primitives.
extension Graph {
    /// `window_partition(x, ws)` on NHWC: pads H and W up to multiples of `ws` and returns
    /// windows [B·nH·nW, ws, ws, C] with the padded extent.
    public func windowPartition(_ x: Value, window ws: Int) throws -> (windows: Value, padded: (Int, Int)) {
        let s = shape(x)
        guard s.count == 4 else { throw SamdgError("window_partition", "expected NHWC input, got \(ShapeMath.describe(s))") }
        let (b, h, w, c) = (s[0], s[1], s[2], s[3])
        let ph = (ws - h % ws) % ws, pw = (ws - w % ws) % ws
        let p = try pad(x, low: [0, 0, 0, 0], high: [0, ph, pw, 0])
        let hp = h + ph, wp = w + pw
        let v = try reshape(p, [b, hp / ws, ws, wp / ws, ws, c])
        let t = try permute(v, [0, 1, 3, 2, 4, 5])
        return (try reshape(t, [b * (hp / ws) * (wp / ws), ws, ws, c]), (hp, wp))
    }

    /// `window_unpartition(windows, ws, (Hp, Wp), (H, W))`: the inverse, cropping the padding.
    public func windowUnpartition(_ windows: Value, window ws: Int, padded: (Int, Int), original: (Int, Int)) throws -> Value {
        let s = shape(windows)
        let (hp, wp) = padded
        let per = (hp / ws) * (wp / ws)
        guard s.count == 4, per > 0, s[0] % per == 0 else {
            throw SamdgError("window_unpartition", "windows \(ShapeMath.describe(s)) do not tile \(hp)x\(wp) by \(ws)")
        }
        let b = s[0] / per, c = s[3]
        let v = try reshape(windows, [b, hp / ws, wp / ws, ws, ws, c])
        let t = try reshape(permute(v, [0, 1, 3, 2, 4, 5]), [b, hp, wp, c])
        if (hp, wp) == original { return t }
        return try slice(t, dims: [1, 2], starts: [0, 0], ends: [original.0, original.1])
    }

    /// segment-anything `get_rel_pos(q, k, rel_pos)`: the table row for each (query, key) offset,
    /// [q, k, C]; a table of another length is first resized linearly, as PyTorch does.
    public func relativePositions(_ table: Value, querySize q: Int, keySize k: Int) throws -> Value {
        let ts = shape(table)
        let maxDist = 2 * max(q, k) - 1
        var t = table
        if ts[0] != maxDist {
            let chw = try reshape(permute(t, [1, 0]), [ts[1], 1, ts[0]])
            t = try permute(reshape(resize(chw, height: 1, width: maxDist), [ts[1], maxDist]), [1, 0])
        }
        let qs = Swift.max(Double(k) / Double(q), 1), ks = Swift.max(Double(q) / Double(k), 1)
        var idx: [Int] = []
        for i in 0..<q { for j in 0..<k { idx.append(Int(Double(i) * qs - Double(j) * ks + Double(k - 1) * ks)) } }
        return try reshape(gatherRows(t, idx), [q, k, shape(t)[1]])
    }

    /// segment-anything `Attention.forward` on NHWC input x [B, H, W, dim] with `heads` heads,
    /// qkv/proj linear weights and optional decomposed relative-position tables.
    public func samAttention(_ x: Value, heads: Int, qkvWeight: Value, qkvBias: Value?, projWeight: Value, projBias: Value?,
                             relPosH: Value?, relPosW: Value?) throws -> Value {
        let s = shape(x)
        let (b, h, w, dim) = (s[0], s[1], s[2], s[3])
        guard dim % heads == 0 else { throw SamdgError("sam_attention", "dim \(dim) not divisible by \(heads) heads") }
        let hd = dim / heads, n = h * w
        let qkv = try reshape(linear(x, qkvWeight, qkvBias), [b, n, 3, heads, hd])
        let qkvT = try reshape(permute(qkv, [2, 0, 3, 1, 4]), [3, b * heads, n, hd])
        func part(_ i: Int) throws -> Value {
            try reshape(slice(qkvT, dims: [0], starts: [i], ends: [i + 1]), [b * heads, n, hd])
        }
        let q = try part(0), k = try part(1), v = try part(2)
        let scale = 1 / Float(hd).squareRoot()
        var attn = try matmul(affine(q, scale: scale), k, transposeB: true)   // [BH, n, n]
        if let rph = relPosH, let rpw = relPosW {
            attn = try addDecomposedRelPos(attn, q: q, relPosH: rph, relPosW: rpw, size: (h, w))
        }
        let probs = try softmax(attn, axis: -1)
        let o = try matmul(probs, v)                                          // [BH, n, hd]
        let merged = try reshape(permute(reshape(o, [b, heads, h, w, hd]), [0, 2, 3, 1, 4]), [b, h, w, dim])
        return try linear(merged, projWeight, projBias)
    }

    /// segment-anything `add_decomposed_rel_pos` for equal query and key grids.
    func addDecomposedRelPos(_ attn: Value, q: Value, relPosH: Value, relPosW: Value, size: (Int, Int)) throws -> Value {
        let (h, w) = size
        let bq = shape(q)[0], c = shape(q)[2]
        let rh = try relativePositions(relPosH, querySize: h, keySize: h)   // [h, h, c]
        let rw = try relativePositions(relPosW, querySize: w, keySize: w)   // [w, w, c]
        let rq = try reshape(q, [bq, h, w, c])
        // rel_h[b, y, x, k] = Σc rq[b, y, x, c] · rh[y, k, c]
        let qh = try reshape(permute(rq, [1, 0, 2, 3]), [h, bq * w, c])
        let relH = try permute(reshape(matmul(qh, rh, transposeB: true), [h, bq, w, h]), [1, 0, 2, 3])
        // rel_w[b, y, x, k] = Σc rq[b, y, x, c] · rw[x, k, c]
        let qw = try reshape(permute(rq, [2, 0, 1, 3]), [w, bq * h, c])
        let relW = try permute(reshape(matmul(qw, rw, transposeB: true), [w, bq, h, w]), [1, 2, 0, 3])
        let a5 = try reshape(attn, [bq, h, w, h, w])
        let sum = try add(add(a5, reshape(relH, [bq, h, w, h, 1])), reshape(relW, [bq, h, w, 1, w]))
        return try reshape(sum, [bq, h * w, h * w])
    }
}
