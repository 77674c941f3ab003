import Foundation
import Graph
import Primitives
import Tensor

/// SAM's prompt encoder (segment-anything `modeling/prompt_encoder.py`): random-Fourier positional
/// encodings of box corners and points plus learned type embeddings (sparse), and a learned
/// "no mask" embedding or a conv encoding of a mask prompt (dense).
public struct PromptEncoderConfig: Hashable, Sendable {
    public var embedDim = 256
    public var embeddingSize = 64      // image embedding grid side
    public var inputImageSize = 1024   // padded encoder input side
    public var maskInChannels = 16
    public init(embedDim: Int = 256, embeddingSize: Int = 64, inputImageSize: Int = 1024, maskInChannels: Int = 16) {
        self.embedDim = embedDim; self.embeddingSize = embeddingSize; self.inputImageSize = inputImageSize; self.maskInChannels = maskInChannels
    }
}

extension ModelBuilder {
    /// `PositionEmbeddingRandom._pe_encoding` of coordinates already normalised to [0, 1]
    /// ([…, 2] → […, 2·F]): sin and cos of 2π·((2c − 1) · G).
    func fourierEncoding(_ coords01: Value, gaussian: Value) throws -> Value {
        let c = try graph.affine(coords01, scale: 2, shift: -1)
        let p = try graph.affine(graph.matmul(c, gaussian), scale: 2 * Float.pi)
        let r = graph.shape(p).count
        return try graph.concat([graph.unary(.sin, p), graph.unary(.cos, p)], axis: r - 1)
    }

    /// Pixel coordinates [B, N, 2] (x, y) → normalised to [0, 1] by the input image size, after
    /// the half-pixel shift SAM applies.
    func normalizedCoords(_ pts: Value, _ c: PromptEncoderConfig) throws -> Value {
        try graph.affine(pts, scale: 1 / Float(c.inputImageSize), shift: 0.5 / Float(c.inputImageSize))
    }

    /// Sparse embeddings of boxes [B, 4] (x0, y0, x1, y1 in input-image pixels): [B, 2, D].
    public func promptEncoderBoxes(_ boxes: Value, _ c: PromptEncoderConfig) throws -> Value {
        let b = graph.shape(boxes)[0], d = c.embedDim
        let g = param("pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])
        let corners = try normalizedCoords(graph.reshape(boxes, [b, 2, 2]), c)
        let pe = try fourierEncoding(corners, gaussian: g)
        let typeEmb = try graph.reshape(graph.concat([embedding("point_embeddings.2", 1, d),
                                                      embedding("point_embeddings.3", 1, d)], axis: 0), [1, 2, d])
        return try graph.add(pe, typeEmb)
    }

    /// Sparse embeddings of points [B, N, 2] with labels [B, N] (1 foreground, 0 background,
    /// −1 padding): PE (zeroed for padding) plus the label's embedding. `pad` appends SAM's
    /// padding point, as it does when no box is given.
    public func promptEncoderPoints(_ points: Value, labels: Value, pad: Bool, _ c: PromptEncoderConfig) throws -> Value {
        let s = graph.shape(points), d = c.embedDim
        var pts = points, lab = labels
        if pad {
            pts = try graph.concat([points, graph.constant(0, [s[0], 1, 2])], axis: 1)
            lab = try graph.concat([labels, graph.constant(-1, [s[0], 1])], axis: 1)
        }
        let g = param("pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])
        let pe = try fourierEncoding(normalizedCoords(pts, c), gaussian: g)
        // one-hot masks of the label values, [B, N, 1]
        let l3 = try graph.reshape(lab, graph.shape(lab) + [1])
        func isLabel(_ v: Float) throws -> Value { try graph.binary(.equal, l3, graph.constant(v, [1])) }
        let notPad = try graph.affine(isLabel(-1), scale: -1, shift: 1)
        var e = try graph.mul(pe, notPad)
        e = try graph.add(e, graph.mul(isLabel(-1), embedding("not_a_point_embed", 1, d)))
        e = try graph.add(e, graph.mul(isLabel(0), embedding("point_embeddings.0", 1, d)))
        return try graph.add(e, graph.mul(isLabel(1), embedding("point_embeddings.1", 1, d)))
    }

    /// Dense embedding without a mask prompt: the learned no-mask embedding, [B, D, h, w].
    public func promptEncoderNoMask(batch: Int, _ c: PromptEncoderConfig) throws -> Value {
        let d = c.embedDim, e = c.embeddingSize
        return try graph.broadcast(graph.reshape(embedding("no_mask_embed", 1, d), [1, d, 1, 1]), [batch, d, e, e])
    }

    /// Dense embedding of a mask prompt [B, 1, 4h, 4w].
    public func promptEncoderMask(_ mask: Value, _ c: PromptEncoderConfig) throws -> Value {
        let m = c.maskInChannels, d = c.embedDim
        return try scope("mask_downscaling") {
            var h = try conv2d("0", mask, 1, m / 4, kernel: 2, stride: 2)
            h = try graph.gelu(layerNorm2d("1", h, m / 4))
            h = try conv2d("3", h, m / 4, m, kernel: 2, stride: 2)
            h = try graph.gelu(layerNorm2d("4", h, m))
            return try conv2d("6", h, m, d, kernel: 1)
        }
    }

    /// `get_dense_pe()`: the positional encoding of the embedding grid, [1, D, h, w].
    public func promptEncoderDensePE(_ c: PromptEncoderConfig) throws -> Value {
        let e = c.embeddingSize, d = c.embedDim
        var grid: [Float] = []
        for y in 0..<e { for x in 0..<e { grid += [(Float(x) + 0.5) / Float(e), (Float(y) + 0.5) / Float(e)] } }
        let coords = constant("dense_pe_grid", Tensor(shape: [e, e, 2], grid))
        let g = param("pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])
        let pe = try fourierEncoding(coords, gaussian: g)                        // [h, w, D]
        return try graph.reshape(graph.permute(pe, [2, 0, 1]), [1, d, e, e])
    }
}

extension ModelBuilder {
    /// Declares every prompt-encoder weight (also those a box-only graph leaves unused), so a full
    /// SAM state dict binds exactly.
    public func promptEncoderDeclareAll(_ c: PromptEncoderConfig) {
        let d = c.embedDim, m = c.maskInChannels
        _ = param("pe_layer.positional_encoding_gaussian_matrix", [2, d / 2])
        for i in 0..<4 { _ = embedding("point_embeddings.\(i)", 1, d) }
        _ = embedding("not_a_point_embed", 1, d)
        _ = embedding("no_mask_embed", 1, d)
        scope("mask_downscaling") {
            for (name, shape) in [("0.weight", [m / 4, 1, 2, 2]), ("0.bias", [m / 4]), ("1.weight", [m / 4]), ("1.bias", [m / 4]),
                                  ("3.weight", [m, m / 4, 2, 2]), ("3.bias", [m]), ("4.weight", [m]), ("4.bias", [m]),
                                  ("6.weight", [d, m, 1, 1]), ("6.bias", [d])] {
                _ = param(name, shape)
            }
        }
    }
}
