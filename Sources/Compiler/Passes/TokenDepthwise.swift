import Graph
import Kernels
import Primitives

/// Channels-last depthwise convolution ("token-depthwise"): token models that run a depthwise
/// conv on their tokens (TinyViT's local conv) transpose [B, L, C] to NCHW and back around it.
/// This group computes the conv (with its folded epilogue, if `ConvEpilogueGroups` found one)
/// straight on the tokens, so neither permute runs.
///
/// ```
///   x [B, H·W, C] ─ permute(0,2,1) ─ reshape [B, C, H, W] ─ conv2d(g = C) ─[epilogue]─┐
///                                                                                    │
///   ◀─ permute(0,2,1) ─ reshape [B, C, OH·OW] ◀──────────────────────────────────────┘
///
///   ⇒  x, w[, epilogue operands] ─▶ depthwiseTokens(H, W) ─▶ [B, OH·OW, C]
/// ```
///
/// Algorithm: for each live `permute(0, 2, 1)` of rank 3, walk up through a reshape to a conv (or
/// a conv-epilogue root) whose weights are [C, 1, kh, kw] with C input and output channels, then
/// through a reshape of its input to a `permute(0, 2, 1)` of rank-3 tokens. Every node between
/// the two permutes (the first permute included) must have that one consumer and not be a graph
/// output.
struct TokenDepthwiseGroups {
    /// root node id → (tokens node, conv node, H, W, epilogue, epilogue operands)
    var roots: [Int: (x: Int, conv: Int, height: Int, width: Int, epilogue: ChannelEpilogue, operands: [Int])] = [:]
    var absorbed = Set<Int>()
    var taken: Set<Int> { absorbed.union(roots.keys) }

    init() {}

    init(_ g: Graph, live: [Bool], isOutput: Set<Int>, convs: ConvEpilogueGroups, taken: Set<Int>) {
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1 } }
        func free(_ id: Int) -> Bool { consumers[id] == 1 && !isOutput.contains(id) }
        func isTranspose(_ id: Int) -> Bool {
            if case .permute([0, 2, 1]) = g.nodes[id].op { return true }
            return false
        }
        func isReshape(_ id: Int) -> Bool { if case .reshape = g.nodes[id].op { return true }; return false }
        for i in g.nodes.indices where live[i] && !taken.contains(i) && isTranspose(i) {
            let r2 = g.nodes[i].inputs[0].id
            guard isReshape(r2), free(r2), !taken.contains(r2) else { continue }
            let e = g.nodes[r2].inputs[0].id
            guard free(e) else { continue }
            let conv: Int, epilogue: ChannelEpilogue, operands: [Int]
            if let grp = convs.roots[e], grp.epilogue.residual == nil { (conv, epilogue, operands) = (grp.conv, grp.epilogue, grp.operands) }
            else if case .conv2d = g.nodes[e].op, !taken.contains(e) { (conv, epilogue, operands) = (e, ChannelEpilogue(steps: [], activation: nil), []) }
            else { continue }
            guard case .conv2d(let geo) = g.nodes[conv].op else { continue }
            let r1 = g.nodes[conv].inputs[0].id, ws = g.nodes[g.nodes[conv].inputs[1].id].shape
            let img = g.nodes[r1].shape, out = g.nodes[conv].shape
            guard img.count == 4, ws.count == 4, ws[1] == 1, geo.groups == img[1], out[1] == img[1],
                  isReshape(r1), free(r1), !taken.contains(r1) else { continue }
            let p1 = g.nodes[r1].inputs[0].id
            guard isTranspose(p1), free(p1), !taken.contains(p1) else { continue }
            let x = g.nodes[p1].inputs[0].id, xs = g.nodes[x].shape
            guard xs == [img[0], img[2] * img[3], img[1]], g.nodes[i].shape == [out[0], out[2] * out[3], out[1]] else { continue }
            roots[i] = (x, conv, img[2], img[3], epilogue, operands)
            absorbed.formUnion([p1, r1, conv, e, r2])
        }
    }
}
