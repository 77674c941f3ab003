import Graph
import Kernels
import Primitives
import Tensor

/// Window attention fusion (Graph → Graph): TinyViT's windowed attention stops padding,
/// partitioning and cropping its tokens, and stops projecting and querying the padding.
///
/// ```
///   P [B, H, W, C] ─ pad (zeros, bottom/right) ─ reshape/permute/reshape (windows) ─ Wn [nw, N, C]
///     ─ row-wise ops f (LayerNorm, qkv linear) ─ Y [nw, N, R] ─ views ─ q, k, v ─ attention(·, bias)
///     ─ reshape/permute … (windows back) ─ [B, Hp, Wp, C′] ─ slice ─ E [B, H, W, C′]
///
///   ⇒  E = window_attention(f(P as rows), f(zero row), bias)
/// ```
///
/// Algorithm note: the ops from Wn to Y act on each token row alone: elementwise ops whose other
/// operands are per-channel constants, reductions over the last axis with kept dims (the
/// LayerNorm statistics), and matmuls by a shared 2-D weight. Such an f commutes with any
/// reordering of the rows, so f(partition(pad(P))) = partition(padRows(f(P), f(0))): the image's
/// own tokens go through f unpadded, and every pad token becomes the one row f(0) (for
/// LayerNorm then a linear layer: β·Wᵀ + b). The `window_attention` kernel reads q, k and v
/// straight from f(P)'s [B, H, W, R] rows, substitutes f(0) for positions outside the image,
/// computes only the image's queries, and writes each token's heads-merged result in place,
/// so the pad, the two permutes and the crop do not run, and neither do the padded tokens'
/// projection (LiteMedSAM: 4096 of 4900 tokens at 64×64 with 14×14 and 7×7 windows) and queries.
///
/// Matching, all by layout maps (`StridedView`), not by op sequences alone:
/// - q, k and v are views of one buffer Y whose rows are window tokens: q[w, h, t, c] is
///   Y[w, t, qOffset + h·headStride + c] (likewise k, v);
/// - Wn is a view of pad(P) (or of an unpadded [B, H, W, C] buffer) with exactly the window
///   partition's map; every node from Wn to Y is one of the row-wise ops above, and the
///   per-channel operands do not depend on Wn;
/// - the result goes down single-consumer reshapes and permutes whose map is the window
///   unpartition of [nw, heads, N, dv] into [B, Hp, Wp, heads·dv], then a slice of [0, H)×[0, W)
///   (none when nothing was padded);
/// - the bias, if any, holds heads·N·N values with the heads as its batch suffix;
/// - nothing outside the pattern reads the rows of f(pad) or the attention (a training graph's
///   backward does: then the pattern is left alone, since the padded values must exist anyway);
/// - the window fits the kernel's one key block (`AttentionKernel.windowFits`).
/// New nodes take the labels of the nodes they replace; the old ones become dead and are
/// dropped by the lowering's dead-code elimination.
public enum WindowAttentionFusion {
    public static let name = "window-attention"

    struct Match {
        /// the unpadded token image [B, H, W, C] and the partition's window size
        var image: Int, b: Int, h: Int, w: Int, c: Int
        /// the row-wise ops from the partitioned tokens to Y, in graph order, and the partitioned tokens
        var chain: [Int], windows: Int, y: Int
        var bias: Int?
        var spec: WindowAttentionSpec
        /// the node whose value the kernel's result replaces ([B, H, W, heads·dv], or a reshape of it)
        var end: Int
        /// whether the partition padded the image (else the pad row is never read)
        var padded: Bool
    }

    public static func apply(_ g: Graph) throws -> Graph {
        var live = [Bool](repeating: false, count: g.nodes.count)
        for (_, v) in g.outputs { live[v.id] = true }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] { for v in g.nodes[i].inputs { live[v.id] = true } }
        var consumers = [[Int]](repeating: [], count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs where !consumers[v.id].contains(i) { consumers[v.id].append(i) } }
        let outputs = Set(g.outputs.map(\.value.id))
        var matches: [Int: Match] = [:]             // by the chain's Y (where the new nodes go)
        var ends: [Int: Int] = [:]                  // end → Y
        for i in g.nodes.indices where live[i] {
            if let m = match(g, i, consumers: consumers, outputs: outputs), matches[m.y] == nil, ends[m.end] == nil {
                matches[m.y] = m
                ends[m.end] = m.y
            }
        }
        if matches.isEmpty { return g }

        let out = Graph()
        var map = [Value?](repeating: nil, count: g.nodes.count)
        var fused: [Int: (qkv: Value, pad: Value)] = [:]     // by Y
        for (i, n) in g.nodes.enumerated() {
            out.currentLabel = n.label
            map[i] = try out.add(n.op, n.inputs.map { map[$0.id]! })
            if let m = matches[i] {
                // f on the image's rows and on one zero row, at Y's place (every operand is earlier)
                let rank = g.nodes[m.windows].shape.count
                let rows = try out.reshape(map[m.image]!, Array(repeating: 1, count: rank - 2) + [m.b * m.h * m.w, m.c])
                // (with nothing padded the kernel never reads the pad row: zeros, no GEMM)
                var onRows: [Int: Value] = [m.windows: rows]
                var onZero: [Int: Value]? = m.padded ? [m.windows: out.constant(0, Array(repeating: 1, count: rank - 1) + [m.c])] : nil
                for k in m.chain {
                    let node = g.nodes[k]
                    out.currentLabel = node.label
                    onRows[k] = try out.add(node.op, node.inputs.map { onRows[$0.id] ?? map[$0.id]! })
                    if let z = onZero { onZero![k] = try out.add(node.op, node.inputs.map { z[$0.id] ?? map[$0.id]! }) }
                }
                let r = g.nodes[m.y].shape.last!
                fused[i] = (try out.reshape(onRows[m.y]!, [m.b, m.h, m.w, r]),
                            try onZero.map { try out.reshape($0[m.y]!, [r]) } ?? out.constant(0, [r]))
            }
            if let y = ends[i], let m = matches[y], let f = fused[y] {
                out.currentLabel = n.label
                var ops = [f.qkv, f.pad]
                if let b = m.bias { ops.append(try out.reshape(map[b]!, [m.spec.heads, m.spec.tokens, m.spec.tokens])) }
                let y = try out.add(.windowAttention(m.spec), ops)
                map[i] = n.shape == out.shape(y) ? y : try out.reshape(y, n.shape)
            }
        }
        out.currentLabel = nil
        for (name, v) in g.outputs { out.output(name, map[v.id]!) }
        return out
    }

    /// The pattern around attention node `i`, if it is all there.
    static func match(_ g: Graph, _ i: Int, consumers: [[Int]], outputs: Set<Int>) -> Match? {
        let a = g.nodes[i]
        guard case .attention(let scale) = a.op, a.inputs.count == 3 || a.inputs.count == 4 else { return nil }
        func view(of id: Int) -> StridedView? { StridedView.of(id, in: g) }
        let qs = g.nodes[a.inputs[0].id].shape, vs = g.nodes[a.inputs[2].id].shape
        guard qs.count == 4, vs.count == 4 else { return nil }
        let (nw, heads, n, d, dv) = (qs[0], qs[1], qs[2], qs[3], vs[3])
        guard let qv = view(of: a.inputs[0].id), let kv = view(of: a.inputs[1].id), let vv = view(of: a.inputs[2].id),
              qv.base == kv.base, kv.base == vv.base, qv.base != a.inputs[0].id else { return nil }
        let y = qv.base, ys = g.nodes[y].shape
        guard let row = ys.last, ys.count >= 2, ShapeMath.count(ys) == nw * n * row else { return nil }
        // q[w, h, t, c] = Y[w, t, offset + h·headStride + c] (likewise k, v)
        func columns(_ v: StridedView, _ width: Int) -> (offset: Int, headStride: Int)? {
            guard v.offset >= 0, v.offset < row, v.axes.count == 4 else { return nil }
            let heads = v.axes[1]
            let hs = heads.isEmpty ? 0 : (heads.count == 1 ? heads[0].stride : -1)
            guard hs >= 0 else { return nil }
            let expect = StridedView(base: y, offset: v.offset, axes: [[.init(size: nw, stride: n * row)], [.init(size: qs[1], stride: hs)],
                                                                       [.init(size: n, stride: row)], [.init(size: width, stride: 1)]]).canonical
            return expect == v.canonical ? (v.offset, hs) : nil
        }
        guard let qc = columns(qv, d), let kc = columns(kv, d), let vc = columns(vv, dv),
              qc.headStride == kc.headStride, kc.headStride == vc.headStride || heads == 1 else { return nil }
        let hs = heads == 1 ? 0 : qc.headStride
        var ws = 1
        while ws * ws < n { ws += 1 }
        guard ws * ws == n, ws > 1 else { return nil }
        let spec = WindowAttentionSpec(window: ws, heads: heads, d: d, dv: dv, scale: scale, qOffset: qc.offset, kOffset: kc.offset,
                                       vOffset: vc.offset, headStride: hs)
        guard spec.minimumRow <= row, AttentionKernel.windowFits(spec) else { return nil }
        var bias: Int? = nil
        if a.inputs.count == 4 {
            let b = a.inputs[3].id, bs = g.nodes[b].shape
            guard ShapeMath.count(bs) == heads * n * n, bs.count >= 3, bs[bs.count - 3] == heads else { return nil }
            bias = b
        }

        // Y back to the partitioned tokens through row-wise ops
        let lead = Array(ys.dropLast()), rank = ys.count
        var chain = Set<Int>(), windows: Int? = nil, stack = [y]
        var dependsOnChain = [Bool](repeating: false, count: g.nodes.count)
        while let k = stack.popLast() {
            if chain.contains(k) { continue }
            let node = g.nodes[k]
            guard rowWise(node, rank: rank) else {
                // the partitioned tokens: the one non-row-wise node the chain starts from
                guard windows == nil || windows == k, g.nodes[k].shape.dropLast() == lead else { return nil }
                windows = k
                continue
            }
            guard Array(node.shape.dropLast()) == lead else { return nil }
            chain.insert(k)
            let isMatmul: Bool
            if case .matmul = node.op { isMatmul = true } else { isMatmul = false }
            for (slot, v) in node.inputs.enumerated() {
                let s = g.nodes[v.id].shape
                let tokens = s.count == rank && Array(s.dropLast()) == lead
                if isMatmul {
                    // x [… tokens, Cin] times a 2-D weight
                    guard slot == 0 ? tokens : s.count == 2 else { return nil }
                } else if !tokens {
                    // a per-channel operand: leading 1s
                    guard s.count <= rank && s.dropLast().allSatisfy({ $0 == 1 }) else { return nil }
                }
                if tokens { stack.append(v.id) }
            }
        }
        guard let wn = windows, !chain.isEmpty else { return nil }
        // per-channel operands must not depend on the tokens
        for k in g.nodes.indices where k > wn {
            dependsOnChain[k] = g.nodes[k].inputs.contains { $0.id == wn || dependsOnChain[$0.id] }
        }
        for k in chain {
            for v in g.nodes[k].inputs where v.id != wn && !chain.contains(v.id) && dependsOnChain[v.id] { return nil }
        }
        // nothing else reads the chain (q, k, v views of Y lead only to the attention)
        func onlyInto(_ id: Int, _ allowed: (Int) -> Bool) -> Bool {
            !outputs.contains(id) && consumers[id].allSatisfy(allowed)
        }
        for k in chain where k != y { guard onlyInto(k, { chain.contains($0) }) else { return nil } }
        var viewNodes = Set<Int>()
        for v in a.inputs.prefix(3) {
            var cur = v.id
            while cur != y { viewNodes.insert(cur); cur = g.nodes[cur].inputs[0].id }
        }
        guard onlyInto(y, { viewNodes.contains($0) }) else { return nil }
        for v in viewNodes { guard onlyInto(v, { viewNodes.contains($0) || $0 == i }) else { return nil } }

        // Wn = the window partition of pad(P) (or of P when nothing is padded)
        guard let wv = view(of: wn) else { return nil }
        let base = g.nodes[wv.base]
        let image: Int, b: Int, h: Int, w: Int, c: Int, hp: Int, wp: Int
        if case .pad(let lo, let hi, let value) = base.op, base.shape.count == 4, value == 0, lo.allSatisfy({ $0 == 0 }),
           hi[0] == 0, hi[3] == 0 {
            image = base.inputs[0].id
            let s = g.nodes[image].shape
            (b, h, w, c) = (s[0], s[1], s[2], s[3])
            (hp, wp) = (base.shape[1], base.shape[2])
        } else {
            // unpadded: the [B, H, W, C] grid from the partition's first reshape
            guard let grid = viewChain(g, from: wn).last(where: { g.nodes[$0].shape.count == 6 }) else { return nil }
            let s = g.nodes[grid].shape
            (b, h, w, c) = (s[0], s[1] * s[2], s[3] * s[4], s[5])
            (hp, wp) = (h, w)
            image = wv.base
            guard ShapeMath.count(base.shape) == b * h * w * c else { return nil }
        }
        guard hp % ws == 0, wp % ws == 0, hp - h < ws, wp - w < ws, nw == b * (hp / ws) * (wp / ws),
              g.nodes[wn].shape.last == c else { return nil }
        guard let expectIn = StridedView.contiguous(wv.base, [b, hp, wp, c]).reshaped([b, hp / ws, ws, wp / ws, ws, c])?
                .permuted([0, 1, 3, 2, 4, 5])?.reshaped(g.nodes[wn].shape), expectIn == wv.canonical else { return nil }

        // the result down to [B, Hp, Wp, heads·dv], then the crop
        var cur = i
        var downs: [Int] = []
        while consumers[cur].count == 1, !outputs.contains(cur), let next = consumers[cur].first {
            if case .reshape = g.nodes[next].op { downs.append(next); cur = next; continue }
            if case .permute = g.nodes[next].op { downs.append(next); cur = next; continue }
            break
        }
        let cOut = heads * dv
        /// the attention's result lies in node u's buffer as the window unpartition puts it
        /// (u: any reshape of [B, Hp, Wp, heads·dv])
        func unpartitions(_ u: Int) -> Bool {
            guard ShapeMath.count(g.nodes[u].shape) == b * hp * wp * cOut, g.nodes[u].shape.last == cOut,
                  let got = StridedView.pulledBack(through: Array(downs.prefix(through: downs.firstIndex(of: u)!)), in: g),
                  let expect = StridedView.contiguous(u, [b, hp, wp, cOut]).reshaped([b, hp / ws, ws, wp / ws, ws, heads, dv])?
                    .permuted([0, 1, 3, 5, 2, 4, 6])?.reshaped([nw, heads, n, dv]) else { return false }
            return expect == got.canonical
        }
        let padded = (hp, wp) != (h, w)
        // padded: the [B, Hp, Wp, ·] node the crop reads; unpadded: the last view of the chain that works
        guard let u = downs.last(where: { (!padded || g.nodes[$0].shape == [b, hp, wp, cOut]) && unpartitions($0) }) else { return nil }
        var end = u
        if padded {
            guard consumers[u].count == 1, !outputs.contains(u), let s = consumers[u].first,
                  case .slice(let st, let en, let sp) = g.nodes[s].op, st == [0, 0, 0, 0], en == [b, h, w, cOut],
                  sp == [1, 1, 1, 1] else { return nil }
            end = s
        }
        return Match(image: image, b: b, h: h, w: w, c: c, chain: chain.sorted(), windows: wn, y: y, bias: bias, spec: spec, end: end,
                     padded: padded)
    }

    /// Acts on each row (last axis) alone: elementwise, last-axis reductions keeping dims, and
    /// matmuls by a 2-D weight.
    static func rowWise(_ n: Node, rank: Int) -> Bool {
        guard n.shape.count == rank else { return false }
        switch n.op {
        case .unary, .binary: return true
        case .reduce(_, let axes, let keep): return keep && axes.map { $0 < 0 ? $0 + rank : $0 } == [rank - 1]
        case .matmul(false, _): return true        // the weight's rank is checked with the operands
        default: return false
        }
    }

    /// The view nodes from `id` down to the buffer they read (inclusive of `id`).
    static func viewChain(_ g: Graph, from id: Int) -> [Int] {
        var out: [Int] = [], cur = id
        while true {
            switch g.nodes[cur].op {
            case .reshape, .permute, .slice: out.append(cur); cur = g.nodes[cur].inputs[0].id
            default: return out
            }
        }
    }
}
