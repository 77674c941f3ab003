import Graph
import Tensor

/// SAM's mask decoder (segment-anything `modeling/mask_decoder.py`): output tokens + prompt tokens
/// run through the two-way transformer; the image tokens are upscaled ×4 and each mask token's
/// hypernetwork MLP turns them into a mask; an MLP on the IoU token predicts mask quality.
public struct MaskDecoderConfig: Hashable, Sendable {
    public var dim = 256, depth = 2, heads = 8, mlpDim = 2048
    public var multimaskOutputs = 3
    public var iouHeadDepth = 3, iouHeadHidden = 256
    public init() {}
}

extension ModelBuilder {
    /// `MLP(in, hidden, out, layers)`: ReLU between layers.
    func mlp(_ name: String, _ x: Value, _ inDim: Int, _ hidden: Int, _ outDim: Int, layers: Int) throws -> Value {
        try scope(name) {
            var h = x
            for i in 0..<layers {
                let a = i == 0 ? inDim : hidden, b = i == layers - 1 ? outDim : hidden
                h = try linear("layers.\(i)", h, a, b)
                if i < layers - 1 { h = try graph.relu(h) }
            }
            return h
        }
    }

    /// image embedding [1 or B, D, h, w], dense PE [1, D, h, w], sparse [B, N, D], dense [B, D, h, w]
    /// → (all masks [B, T, 4h, 4w], all IoU predictions [B, T]) with T = multimask outputs + 1.
    public func maskDecoder(image: Value, densePE: Value, sparse: Value, dense: Value, _ c: MaskDecoderConfig) throws -> (masks: Value, iou: Value) {
        let d = c.dim, t = c.multimaskOutputs + 1
        let b = graph.shape(sparse)[0], n = graph.shape(sparse)[1]
        let es = graph.shape(image)
        let out = try graph.concat([embedding("iou_token", 1, d), embedding("mask_tokens", t, d)], axis: 0)
        let tokens = try graph.concat([graph.broadcast(graph.reshape(out, [1, t + 1, d]), [b, t + 1, d]), sparse], axis: 1)
        precondition(graph.shape(tokens) == [b, t + 1 + n, d])
        let src = try graph.add(graph.broadcast(image, [b, d, es[2], es[3]]), dense)
        let pos = try graph.broadcast(densePE, [b, d, es[2], es[3]])
        let (hs, keys) = try scope("transformer") {
            try twoWayTransformer(image: src, pe: pos, tokens: tokens, depth: c.depth, dim: d, heads: c.heads, mlpDim: c.mlpDim)
        }
        let iouToken = try graph.reshape(graph.slice(hs, dims: [1], starts: [0], ends: [1]), [b, d])
        let srcImg = try graph.reshape(graph.permute(keys, [0, 2, 1]), [b, d, es[2], es[3]])
        let up = try scope("output_upscaling") {
            var u = try convTranspose2d("0", srcImg, d, d / 4, kernel: 2, stride: 2)
            u = try graph.gelu(layerNorm2d("1", u, d / 4))
            return try graph.gelu(convTranspose2d("3", u, d / 4, d / 8, kernel: 2, stride: 2))
        }
        var hyper: [Value] = []
        for i in 0..<t {
            let tok = try graph.reshape(graph.slice(hs, dims: [1], starts: [1 + i], ends: [2 + i]), [b, d])
            hyper.append(try graph.reshape(mlp("output_hypernetworks_mlps.\(i)", tok, d, d, d / 8, layers: 3), [b, 1, d / 8]))
        }
        let hyperIn = try graph.concat(hyper, axis: 1)                            // [B, T, D/8]
        let us = graph.shape(up)
        let masks = try graph.reshape(graph.matmul(hyperIn, graph.reshape(up, [b, d / 8, us[2] * us[3]])), [b, t, us[2], us[3]])
        let iou = try mlp("iou_prediction_head", iouToken, d, c.iouHeadHidden, t, layers: c.iouHeadDepth)
        return (masks, iou)
    }

    /// SAM's output selection: the first mask (single) or the rest (multimask).
    public func selectMasks(_ masks: Value, _ iou: Value, multimask: Bool) throws -> (Value, Value) {
        let t = graph.shape(masks)[1]
        let (lo, hi) = multimask ? (1, t) : (0, 1)
        return (try graph.slice(masks, dims: [1], starts: [lo], ends: [hi]), try graph.slice(iou, dims: [1], starts: [lo], ends: [hi]))
    }
}
