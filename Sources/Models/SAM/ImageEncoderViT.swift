import Graph
import Primitives
import Tensor

/// SAM's ViT image encoder (Kirillov et al., "Segment Anything", ICCV 2023; segment-anything
/// `modeling/image_encoder.py`): patch embedding, absolute positions, transformer blocks with
/// windowed or global attention and decomposed relative positions, and a conv neck.
public struct ImageEncoderViTConfig: Hashable, Sendable {
    public var imageSize = 1024, patchSize = 16, inChannels = 3
    public var embedDim = 768, depth = 12, heads = 12
    public var mlpRatio: Double = 4
    public var outChannels = 256
    public var qkvBias = true, useAbsPos = true, useRelPos = true
    public var windowSize = 14
    public var globalAttentionIndexes: [Int] = [2, 5, 8, 11]

    public init() {}

    public static let vitB = ImageEncoderViTConfig()
    public static var vitL: ImageEncoderViTConfig {
        var c = ImageEncoderViTConfig(); c.embedDim = 1024; c.depth = 24; c.heads = 16; c.globalAttentionIndexes = [5, 11, 17, 23]; return c
    }
    public static var vitH: ImageEncoderViTConfig {
        var c = ImageEncoderViTConfig(); c.embedDim = 1280; c.depth = 32; c.heads = 16; c.globalAttentionIndexes = [7, 15, 23, 31]; return c
    }

    /// Side of the embedding grid (image size / patch size).
    public var gridSize: Int { imageSize / patchSize }
}

extension ModelBuilder {
    /// image [B, 3, S, S] → embedding [B, out, S/16, S/16], under the current scope.
    public func imageEncoderViT(_ x: Value, _ c: ImageEncoderViTConfig) throws -> Value {
        let d = c.embedDim, grid = c.gridSize
        let b = graph.shape(x)[0]
        var h = try scope("patch_embed") {
            try conv2d("proj", x, c.inChannels, d, kernel: c.patchSize, stride: c.patchSize)
        }
        h = try graph.permute(h, [0, 2, 3, 1])                                  // NHWC
        if c.useAbsPos { h = try graph.add(h, param("pos_embed", [1, grid, grid, d])) }
        for i in 0..<c.depth {
            let window = c.globalAttentionIndexes.contains(i) ? 0 : c.windowSize
            h = try scope("blocks.\(i)") { try vitBlock(h, c, window: window) }
        }
        let nchw = try graph.permute(h, [0, 3, 1, 2])
        return try scope("neck") {
            var n = try conv2d("0", nchw, d, c.outChannels, kernel: 1, bias: false)
            n = try layerNorm2d("1", n, c.outChannels)
            n = try conv2d("2", n, c.outChannels, c.outChannels, kernel: 3, padding: 1, bias: false)
            n = try layerNorm2d("3", n, c.outChannels)
            precondition(graph.shape(n) == [b, c.outChannels, grid, grid])
            return n
        }
    }

    func vitBlock(_ x: Value, _ c: ImageEncoderViTConfig, window: Int) throws -> Value {
        let d = c.embedDim, s = graph.shape(x)
        var h = try layerNorm("norm1", x, d, eps: 1e-6)
        var padded = (s[1], s[2])
        if window > 0 { (h, padded) = try graph.windowPartition(h, window: window) }
        let attnSize = window > 0 ? window : s[1]
        h = try scope("attn") {
            try graph.samAttention(h, heads: c.heads,
                                   qkvWeight: param("qkv.weight", [3 * d, d]), qkvBias: c.qkvBias ? param("qkv.bias", [3 * d]) : nil,
                                   projWeight: param("proj.weight", [d, d]), projBias: param("proj.bias", [d]),
                                   relPosH: c.useRelPos ? param("rel_pos_h", [2 * attnSize - 1, d / c.heads]) : nil,
                                   relPosW: c.useRelPos ? param("rel_pos_w", [2 * attnSize - 1, d / c.heads]) : nil)
        }
        if window > 0 { h = try graph.windowUnpartition(h, window: window, padded: padded, original: (s[1], s[2])) }
        let r = try graph.add(x, h)
        let mlpDim = Int(Double(d) * c.mlpRatio)
        let n2 = try layerNorm("norm2", r, d, eps: 1e-6)
        let m = try scope("mlp") { try linear("lin2", graph.gelu(linear("lin1", n2, d, mlpDim)), mlpDim, d) }
        return try graph.add(r, m)
    }
}
