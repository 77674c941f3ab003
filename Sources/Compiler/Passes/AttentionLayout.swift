import Graph
import Kernels
import Primitives
import Tensor

/// An affine view of a node's buffer: logical axis a walks the sub-dimensions `axes[a]`
/// (size, stride) in mixed radix, outermost first, and element (i₀, i₁, …) lies at
/// `offset + Σ (digits · strides)` floats into `base`'s contiguous buffer. Reshapes, permutes
/// and slices of a view are views again (when their index maps stay affine), so the layout a
/// chain of them gives to a consumer can be followed through the graph without copying.
struct StridedView: Equatable {
    var base: Int
    var offset: Int
    var axes: [[AttentionOperandLayout.Dim]]

    typealias Dim = AttentionOperandLayout.Dim

    static func contiguous(_ base: Int, _ shape: [Int]) -> StridedView {
        var axes: [[Dim]] = Array(repeating: [], count: shape.count)
        var step = 1
        for a in stride(from: shape.count - 1, through: 0, by: -1) {
            axes[a] = [Dim(size: shape[a], stride: step)]
            step *= shape[a]
        }
        return StridedView(base: base, offset: 0, axes: axes).canonical
    }

    var shape: [Int] { axes.map { $0.reduce(1) { $0 * $1.size } } }

    /// The same map with size-1 sub-dims dropped and adjacent sub-dims merged where the outer
    /// one steps over exactly the inner one's span: equal maps have equal canonical forms.
    var canonical: StridedView {
        var v = self
        v.axes = axes.map { dims in
            var out: [Dim] = []
            for d in dims where d.size != 1 {
                if let last = out.last, last.stride == d.size * d.stride {
                    out[out.count - 1] = Dim(size: last.size * d.size, stride: d.stride)
                } else {
                    out.append(d)
                }
            }
            return out
        }
        return v
    }

    func permuted(_ perm: [Int]) -> StridedView? {
        guard perm.count == axes.count else { return nil }
        var v = self
        v.axes = perm.map { axes[$0] }
        return v
    }

    func sliced(starts: [Int], ends: [Int], steps: [Int]) -> StridedView? {
        guard starts.count == axes.count else { return nil }
        var v = canonical
        let sh = shape
        for a in axes.indices where !(starts[a] == 0 && ends[a] == sh[a] && steps[a] == 1) {
            let count = max(0, (ends[a] - starts[a] + steps[a] - 1) / steps[a])
            guard count > 0 else { return nil }
            if v.axes[a].isEmpty { continue }                   // a size-1 axis: nothing moves
            guard v.axes[a].count == 1 else { return nil }
            let d = v.axes[a][0]
            v.offset += starts[a] * d.stride
            v.axes[a] = [Dim(size: count, stride: d.stride * steps[a])]
        }
        return v.canonical
    }

    func reshaped(_ newShape: [Int]) -> StridedView? {
        var flat = canonical.axes.flatMap { $0 }
        flat.reverse()                                          // pop from the end = outermost first
        var out: [[Dim]] = []
        for size in newShape {
            var need = size, dims: [Dim] = []
            while need > 1 {
                guard let d = flat.popLast() else { return nil }
                if d.size <= need, need % d.size == 0 {
                    dims.append(d); need /= d.size
                } else if d.size % need == 0 {
                    dims.append(Dim(size: need, stride: d.stride * (d.size / need)))
                    flat.append(Dim(size: d.size / need, stride: d.stride))
                    need = 1
                } else {
                    return nil
                }
            }
            if size == 0 { return nil }
            out.append(dims)
        }
        guard flat.isEmpty else { return nil }
        return StridedView(base: base, offset: offset, axes: out).canonical
    }

    /// The view `op` (a reshape, permute or slice with result shape `shape`) makes of this one.
    func applying(_ op: Op, shape: [Int]) -> StridedView? {
        switch op {
        case .reshape: return reshaped(shape)
        case .permute(let p): return permuted(p)
        case .slice(let st, let en, let sp): return sliced(starts: st, ends: en, steps: sp)
        default: return nil
        }
    }

    /// The view node `id` makes of the buffer that its chain of reshapes, permutes and slices
    /// reads (the first node up the chain that is none of them).
    static func of(_ id: Int, in g: Graph) -> StridedView? {
        let n = g.nodes[id]
        switch n.op {
        case .reshape, .permute, .slice: return of(n.inputs[0].id, in: g)?.applying(n.op, shape: n.shape)
        default: return .contiguous(id, n.shape)
        }
    }

    /// Where the elements of the value that `chain` starts from lie in the buffer of its last
    /// node: `chain` is reshapes and permutes, each reading the one before, undone from the last
    /// (nil for an empty chain or another op).
    static func pulledBack(through chain: [Int], in g: Graph) -> StridedView? {
        guard let end = chain.last else { return nil }
        var out: StridedView? = .contiguous(end, g.nodes[end].shape)
        for c in chain.reversed() {
            let input = g.nodes[c].inputs[0].id
            switch g.nodes[c].op {
            case .reshape: out = out?.reshaped(g.nodes[input].shape)
            case .permute(let p):
                if var v = out {
                    for (a, src) in p.enumerated() { v.axes[src] = out!.axes[a] }
                    out = v
                }
            default: return nil
            }
        }
        return out
    }

    /// As an attention operand: logical [batch…, rows, columns] with contiguous columns.
    func operandLayout() -> AttentionOperandLayout? {
        let c = canonical
        guard c.axes.count >= 2 else { return nil }
        let cols = c.axes[c.axes.count - 1], rows = c.axes[c.axes.count - 2]
        guard cols.isEmpty || (cols.count == 1 && cols[0].stride == 1), rows.count <= 1 else { return nil }
        let batch = c.axes.dropLast(2).flatMap { $0 }
        return AttentionOperandLayout(offset: c.offset, batch: batch.isEmpty ? [Dim(size: 1, stride: 0)] : batch,
                                      rowStride: rows.first?.stride ?? 0)
    }
}

/// Strided attention (a lowering group): a fused `attention` whose q, k and v are reshapes,
/// permutes and slices of other buffers (SAM's q, k, v: slices of the permuted qkv projection
/// [3, B·heads, N, hd]) reads them in place, and writes its result straight into the layout of
/// the reshapes and permutes that follow it (the heads merged back, [B, H, W, heads·hd]), so
/// neither the qkv permute, the three slices nor the output permute run.
///
/// ```
///   qkv ─ reshape ─ permute ─ reshape ─ slice ─ reshape ─┬─ q ─┐
///                                       ├ slice ─ reshape ─ k ─┤
///                                       └ slice ─ reshape ─ v ─┴─ attention ─ reshape ─ permute ─ reshape ─▶
///
///   ⇒  qkv ─▶ attentionStrided(layouts) ─▶ [B, H, W, heads·hd]
/// ```
///
/// With SAM's decomposed relative position (relH / relW operands that are reshapes and permutes
/// of `matmul(view of q, table, transB)` for the einsums of `add_decomposed_rel_pos`), the
/// tables become the kernel's operands and the bias is computed per query tile from q, so the
/// two small matmuls and their permutes do not run either. A full additive bias (TinyViT's
/// learned attention bias [1, heads, N, M], batch item b reading bias item b mod heads, as the
/// unfused kernel does) is passed through as the fourth operand; TinyViT's q, k, v are slices of
/// the last axis of its qkv projection [windows, N, heads, 2·kd + d], permuted to
/// [windows, heads, N, ·], which the views above read in place like SAM's.
///
/// Algorithm: each operand is followed up through view ops to the buffer it reads
/// (`StridedView`), which must give contiguous columns, one row stride and any batch strides;
/// the result is followed down through reshapes and permutes that are the single consumer of the
/// one before (not graph outputs), and the last of the longest run the kernel can write through
/// (one row stride) becomes the group's root. The rel-pos
/// operands are checked by comparing their views (and the views of the matmuls' q operands)
/// with the ones `add_decomposed_rel_pos` gives for a qh × qw query grid; when they differ, or
/// any operand is not a view the kernel can read, the attention stays as it is. Intermediate
/// view nodes are not absorbed: nodes nobody else reads drop out in the lowering's second
/// liveness pass.
struct StridedAttentionGroups {
    struct Group {
        var spec: AttentionSpec
        /// q, k, v source nodes (, relH table, relW table | , full bias)
        var operands: [Int]
    }
    var roots: [Int: Group] = [:]
    var absorbed = Set<Int>()
    var taken: Set<Int> { absorbed.union(roots.keys) }

    init() {}

    init(_ g: Graph, live: [Bool], isOutput: Set<Int>) {
        var consumers = [[Int]](repeating: [], count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id].append(i) } }
        func view(of id: Int) -> StridedView? { StridedView.of(id, in: g) }
        for i in g.nodes.indices where live[i] {
            guard case .attention(let scale) = g.nodes[i].op, (3...5).contains(g.nodes[i].inputs.count) else { continue }
            let ins = g.nodes[i].inputs.map(\.id)
            let qs = g.nodes[ins[0]].shape, ks = g.nodes[ins[1]].shape, vs = g.nodes[ins[2]].shape, r = qs.count
            let batch = ShapeMath.count(Array(qs.dropLast(2)))
            let n = qs[r - 2], d = qs[r - 1], m = ks[r - 2], dv = vs[r - 1]
            guard let qv = view(of: ins[0]), let kv = view(of: ins[1]), let vv = view(of: ins[2]),
                  let ql = qv.operandLayout(), let kl = kv.operandLayout(), let vl = vv.operandLayout() else { continue }
            var operands = [qv.base, kv.base, vv.base]
            var relGrid: [Int] = []
            if ins.count == 4 { operands.append(ins[3]) }       // a full bias, read as it is
            if ins.count == 5 {
                guard let rel = relativePosition(g, q: qv, relH: ins[3], relW: ins[4], batch: batch, n: n, view: view) else { continue }
                operands += [rel.tableH, rel.tableW]
                relGrid = [rel.qh, rel.qw]
            }
            // the result, down through single-consumer reshapes and permutes
            var chain: [Int] = []
            var cur = i
            while !isOutput.contains(cur), consumers[cur].count == 1, let next = consumers[cur].first {
                switch g.nodes[next].op {
                case .reshape, .permute: chain.append(next); cur = next
                default: break
                }
                if cur != next { break }
            }
            /// the attention result's layout inside the buffer of chain[len - 1] (the longest prefix
            /// the kernel can write through wins)
            func layout(_ len: Int) -> AttentionOperandLayout? {
                let out = len == 0 ? .contiguous(i, g.nodes[i].shape) : StridedView.pulledBack(through: Array(chain.prefix(len)), in: g)
                guard let ov = out, ov.shape == g.nodes[i].shape else { return nil }
                return ov.operandLayout()
            }
            var len = chain.count
            while len > 0 && layout(len) == nil { len -= 1 }
            chain = Array(chain.prefix(len))
            let root = chain.last ?? i
            let outLayout = layout(len) ?? .contiguous(items: batch, rows: n, columns: dv)
            // nothing to save: every operand already a buffer of its own, the result used as it is
            if operands.prefix(3) == ins.prefix(3), relGrid.isEmpty, root == i { continue }
            let spec = AttentionSpec(batch: batch, n: n, m: m, d: d, dv: dv, scale: scale, q: ql, k: kl, v: vl, out: outLayout,
                                     relGrid: relGrid)
            roots[root] = Group(spec: spec, operands: operands)
            if root != i { absorbed.insert(i); absorbed.formUnion(chain.dropLast()) }
        }
    }

    /// SAM's decomposed relative position (`add_decomposed_rel_pos`): relH [… N, kh] must be
    /// the view reshape(permute(reshape(matmul(qh, tableH, transB), [qh, B, qw, kh]), [1, 0, 2, 3]))
    /// with qh the view reshape(permute(reshape(q, [B, qh, qw, d]), [1, 0, 2, 3]), [qh, B·qw, d]),
    /// and relW likewise with the grid axes the other way round.
    func relativePosition(_ g: Graph, q: StridedView, relH: Int, relW: Int, batch: Int, n: Int,
                          view: (Int) -> StridedView?) -> (tableH: Int, tableW: Int, qh: Int, qw: Int)? {
        guard let hv = view(relH), let wv = view(relW) else { return nil }
        let mh = g.nodes[hv.base], mw = g.nodes[wv.base]
        guard case .matmul(false, true) = mh.op, case .matmul(false, true) = mw.op,
              mh.shape.count == 3, mw.shape.count == 3 else { return nil }
        let qh = mh.shape[0], qw = mw.shape[0], kh = mh.shape[2], kw = mw.shape[2]
        let th = mh.inputs[1].id, tw = mw.inputs[1].id
        let d = q.shape.last!
        guard qh * qw == n, mh.shape[1] == batch * qw, mw.shape[1] == batch * qh,
              g.nodes[th].shape == [qh, kh, d], g.nodes[tw].shape == [qw, kw, d] else { return nil }
        let relHShape = g.nodes[relH].shape, relWShape = g.nodes[relW].shape
        guard let eh = StridedView.contiguous(hv.base, mh.shape).reshaped([qh, batch, qw, kh])?.permuted([1, 0, 2, 3])?
                .reshaped(relHShape), eh == hv.canonical,
              let ew = StridedView.contiguous(wv.base, mw.shape).reshaped([qw, batch, qh, kw])?.permuted([1, 2, 0, 3])?
                .reshaped(relWShape), ew == wv.canonical else { return nil }
        let grid = q.reshaped([batch, qh, qw, d])
        guard let ah = grid?.permuted([1, 0, 2, 3])?.reshaped([qh, batch * qw, d]),
              let aw = grid?.permuted([2, 0, 1, 3])?.reshaped([qw, batch * qh, d]),
              view(mh.inputs[0].id) == ah, view(mw.inputs[0].id) == aw else { return nil }
        return (th, tw, qh, qw)
    }
}
