import Graph
import Primitives
import Tensor

/// Dead-tap pruning (Graph → Graph): kernel taps of a dilated convolution that only ever read
/// zero padding are dropped, so the convolution runs with a smaller kernel.
///
/// Why: DeepLabV3's ASPP uses dilations 12, 24 and 36 on the output-stride-8 feature map. On a
/// 16×16 map (128² inputs) a 3×3 tap at offset ±24 or ±36 never lands inside the image, so those
/// two branches are 1×1 convolutions in disguise: im2col and sgemm would spend 8/9 of their work
/// multiplying zeros, in forward and in both backward products.
///
/// Algorithm note. Along one spatial axis with input extent H, output extent OH, kernel k,
/// stride s, padding p, dilation d, tap i reads rows oy·s − p + i·d for oy in 0..<OH; it is live
/// iff that range meets [0, H): −p + i·d < H and (OH−1)·s − p + i·d ≥ 0. The live taps form an
/// interval [i₀, i₁]. When it is symmetric (i₀ = k−1−i₁ > 0), the convolution equals one with
/// kernel taps i₀…i₁, padding p − i₀·d (≥ 0 by construction: tap i₀ is the first to reach
/// row 0) and the same output extent (H + 2p − d(k−1) stays the same). A 1-tap axis gets
/// dilation 1. Per node, one walk (`Rewriter`):
///
/// ```
///   conv2d(x, w; g)                      ⇒  conv2d(x, w[:, :, i₀…i₁, j₀…j₁]; g′)
///   conv2d_backward_input(dy, w; g)      ⇒  conv2d_backward_input(dy, w[…]; g′)
///   conv2d_backward_weight(x, dy; g)     ⇒  pad(conv2d_backward_weight(x, dy; g′), zeros at the dead taps)
/// ```
///
/// The dead taps' weight gradient is exactly zero (it multiplies padding), which the pad writes.
/// Results change only by the shorter sums' rounding. Training plans hold the forward conv and
/// both backward convs of the autodiff graph; `cse`, which runs after, merges their weight slices.
public enum DeadTaps {
    public static let name = "dead-taps"

    /// Live tap interval of one axis, or nil when nothing can be dropped symmetrically.
    public static func live(extent h: Int, out oh: Int, kernel k: Int, stride s: Int, pad p: Int, dilation d: Int) -> (Int, Int)? {
        let alive = (0..<k).filter { i in -p + i * d < h && (oh - 1) * s - p + i * d >= 0 }
        guard let i0 = alive.first, let i1 = alive.last, i0 > 0, i0 == k - 1 - i1, p - i0 * d >= 0 else { return nil }
        return (i0, i1)
    }

    /// The pruned geometry and tap ranges for a conv over input [_, _, H, W] with output [_, _, OH, OW].
    static func prune(_ g: ConvGeometry, input: [Int], output: [Int], weight: [Int])
        -> (geometry: ConvGeometry, rows: (Int, Int), cols: (Int, Int))? {
        let (kh, kw) = (weight[2], weight[3])
        let r = live(extent: input[2], out: output[2], kernel: kh, stride: g.strideH, pad: g.padH, dilation: g.dilationH)
        let c = live(extent: input[3], out: output[3], kernel: kw, stride: g.strideW, pad: g.padW, dilation: g.dilationW)
        if r == nil && c == nil { return nil }
        let rows = r ?? (0, kh - 1), cols = c ?? (0, kw - 1)
        var q = g
        q.padH = g.padH - rows.0 * g.dilationH; q.padW = g.padW - cols.0 * g.dilationW
        if rows.0 == rows.1 { q.dilationH = 1 }
        if cols.0 == cols.1 { q.dilationW = 1 }
        return (q, rows, cols)
    }

    public static func apply(_ g: Graph) throws -> Graph {
        try Rewriter.run(g) { n, ins, out in
            func sliced(_ w: Value, _ rows: (Int, Int), _ cols: (Int, Int)) throws -> Value {
                try out.slice(w, dims: [2, 3], starts: [rows.0, cols.0], ends: [rows.1 + 1, cols.1 + 1])
            }
            switch n.op {
            case .conv2d(let geo):
                guard let (q, r, c) = prune(geo, input: out.shape(ins[0]), output: n.shape, weight: out.shape(ins[1])) else { return .keep }
                return .replace(.conv2d(q), [ins[0], try sliced(ins[1], r, c)])
            case .conv2dBackwardInput(let geo, let xs):
                guard let (q, r, c) = prune(geo, input: xs, output: out.shape(ins[0]), weight: out.shape(ins[1])) else { return .keep }
                return .replace(.conv2dBackwardInput(q, inputShape: xs), [ins[0], try sliced(ins[1], r, c)])
            case .conv2dBackwardWeight(let geo, let ws):
                guard let (q, r, c) = prune(geo, input: out.shape(ins[0]), output: out.shape(ins[1]), weight: ws) else { return .keep }
                let small = [ws[0], ws[1], r.1 - r.0 + 1, c.1 - c.0 + 1]
                let dw = try out.add(.conv2dBackwardWeight(q, weightShape: small), ins)
                return .alias(try out.pad(dw, low: [0, 0, r.0, c.0], high: [0, 0, ws[2] - 1 - r.1, ws[3] - 1 - c.1]))
            default:
                return .keep
            }
        }
    }
}
