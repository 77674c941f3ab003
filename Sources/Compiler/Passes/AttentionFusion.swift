import Graph
import Primitives
import Tensor

/// Attention fusion (Graph → Graph): softmax attention written with primitives becomes one
/// `attention` op, whose kernel works in query tiles and never materialises the N×M scores.
///
/// Pattern, matched from the `P·v` matmul upwards (batch dims `…` equal on every operand):
///
/// ```
///   q ─[affine a]─┐                                 relH-term [… Q, kh, 1] ──┐
///   k ─[affine b]─┴ matmul(·, kᵀ) ─[affine c]─ S ─(reshape [… Q, kh, kw])─ add ─ add ─(reshape [… N, M])─┐
///                  [… N, M]                          relW-term [… Q, 1, kw] ──────┘                      │
///                                                                                                         ▼
///   v ───────────────────────────────────────────────────────────────── matmul(P, v) ◀── softmax(axis −1)
///
///   ⇒  attention(q, k, v[, reshape(relH-term, [… N, kh]), reshape(relW-term, [… N, kw])], scale = a·b·c)
/// ```
///
/// A full bias — `softmax(add(S, B))` with B [… N, M] whose batch dims are leading 1s then the
/// scores' trailing batch dims (TinyViT's learned biases, [1, H, N, N]) — becomes the 4-operand
/// form `attention(q, k, v, B, scale)`.
///
/// `[…]` parts are optional (affines must have shift 0); the bias adds may come in either order
/// and operand order; Q are the query-grid axes (∏Q = N), kh·kw = M with kh, kw > 1. The
/// rewrite fires only when every intermediate from the scores matmul to the softmax has that one
/// consumer and is not a graph output: when something else reads them (a training graph's
/// backward reads the probabilities), the full matrix exists anyway and the graph is left as is.
/// The scaling affines of q and k are not removed (others may read them); unused, they are
/// dropped by dead-code elimination. Nodes keep their labels; new nodes take the root's.
public enum AttentionFusion {
    public static let name = "attention-fusion"

    /// A rewrite of the node `root`: the fused op's operands and the nodes it replaces.
    struct Match {
        var q: Int, k: Int, v: Int
        var relH: (node: Int, shape: [Int])?, relW: (node: Int, shape: [Int])?
        /// a full additive bias [… N, M] (TinyViT's learned biases)
        var bias: Int?
        var scale: Float
        var absorbed: [Int]
    }

    public static func apply(_ g: Graph) throws -> Graph {
        var uses = [Int](repeating: 0, count: g.nodes.count)
        for n in g.nodes { for v in n.inputs { uses[v.id] += 1 } }
        for (_, v) in g.outputs { uses[v.id] += 1 }
        var matches: [Int: Match] = [:]
        var absorbed = Set<Int>()
        for i in g.nodes.indices {
            if let m = match(g, i, uses), absorbed.isDisjoint(with: m.absorbed) {
                matches[i] = m
                absorbed.formUnion(m.absorbed)
            }
        }
        if matches.isEmpty { return g }

        let out = Graph()
        var map = [Value?](repeating: nil, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where !absorbed.contains(i) {
            out.currentLabel = n.label
            if let m = matches[i] {
                var ops = [m.q, m.k, m.v].map { map[$0]! }
                if let h = m.relH, let w = m.relW {
                    ops.append(try out.reshape(map[h.node]!, h.shape))
                    ops.append(try out.reshape(map[w.node]!, w.shape))
                } else if let b = m.bias {
                    ops.append(map[b]!)
                }
                map[i] = try out.add(.attention(scale: m.scale), ops)
            } else {
                map[i] = try out.add(n.op, n.inputs.map { map[$0.id]! })
            }
        }
        out.currentLabel = nil
        for (name, v) in g.outputs { out.output(name, map[v.id]!) }
        return out
    }

    /// The match rooted at node `i` (a `P·v` matmul), if the whole pattern is there.
    static func match(_ g: Graph, _ i: Int, _ uses: [Int]) -> Match? {
        let root = g.nodes[i]
        guard case .matmul(false, false) = root.op else { return nil }
        let p = root.inputs[0].id, v = root.inputs[1].id
        let ps = g.nodes[p].shape, r = ps.count
        guard case .softmax(let axis) = g.nodes[p].op, ShapeMath.axis(axis, rank: r) == r - 1, uses[p] == 1,
              g.nodes[v].shape.count == r, Array(g.nodes[v].shape.dropLast(2)) == Array(ps.dropLast(2)) else { return nil }
        let batch = Array(ps.dropLast(2)), n = ps[r - 2], m = ps[r - 1]
        var absorbed = [p]
        /// `id` if it is read once (by the pattern) and then absorbed.
        func single(_ id: Int) -> Int? {
            guard uses[id] == 1 else { return nil }
            absorbed.append(id)
            return id
        }
        func unscaled(_ id: Int) -> (Int, Float) {
            if case .unary(.affine(let s, 0)) = g.nodes[id].op { return (g.nodes[id].inputs[0].id, s) }
            return (id, 1)
        }

        var scores = g.nodes[p].inputs[0].id
        var relH: (node: Int, shape: [Int])? = nil, relW: (node: Int, shape: [Int])? = nil
        var bias: Int? = nil
        // decomposed relative-position bias: reshape(add(add(reshape(S), H), W))
        if case .reshape = g.nodes[scores].op, case .binary(.add) = g.nodes[g.nodes[scores].inputs[0].id].op {
            let sum = g.nodes[scores].inputs[0].id
            guard single(scores) != nil else { return nil }
            let grid = g.nodes[sum].shape
            guard grid.count >= r + 1, Array(grid.prefix(batch.count)) == batch else { return nil }
            let kh = grid[grid.count - 2], kw = grid[grid.count - 1]
            let qGrid = Array(grid[batch.count..<(grid.count - 2)])
            guard kh > 1, kw > 1, kh * kw == m, qGrid.reduce(1, *) == n else { return nil }
            // the add tree's leaves
            var terms: [Int] = [], stack = [sum]
            while let t = stack.popLast() {
                if case .binary(.add) = g.nodes[t].op, g.nodes[t].shape == grid, single(t) != nil {
                    stack.append(contentsOf: g.nodes[t].inputs.map(\.id))
                } else {
                    terms.append(t)
                }
            }
            guard terms.count == 3 else { return nil }
            let lead = batch + qGrid
            var s: Int? = nil
            for t in terms {
                switch g.nodes[t].shape {
                case grid where s == nil: s = t
                case lead + [kh, 1] where relH == nil: relH = (t, batch + [n, kh])
                case lead + [1, kw] where relW == nil: relW = (t, batch + [n, kw])
                default: return nil
                }
            }
            guard let s, relH != nil, relW != nil, case .reshape = g.nodes[s].op, single(s) != nil else { return nil }
            scores = g.nodes[s].inputs[0].id
            guard g.nodes[scores].shape == ps else { return nil }
        } else if case .binary(.add) = g.nodes[scores].op {
            // full bias: add(S, B) with B [… N, M] broadcast over the batch as a suffix
            let ins = g.nodes[scores].inputs.map(\.id)
            func isScores(_ id: Int) -> Bool {
                let n = g.nodes[id]
                if case .matmul(false, true) = n.op { return n.shape == ps }
                if case .unary(.affine(_, 0)) = n.op, case .matmul(false, true) = g.nodes[n.inputs[0].id].op { return n.shape == ps }
                return false
            }
            guard let si = ins.firstIndex(where: isScores) else { return nil }
            let b = ins[1 - si], bs = g.nodes[b].shape
            guard bs.count <= r, Array(bs.suffix(2)) == [n, m],
                  ShapeMath.suffixBroadcastGroups(Array(bs.dropLast(2)), to: batch) != nil, single(scores) != nil else { return nil }
            bias = b
            scores = ins[si]
        }
        // scores = [affine c](matmul([affine a](q), [affine b](k), transB))
        var scale: Float = 1
        if case .unary(.affine(let c, 0)) = g.nodes[scores].op {
            guard single(scores) != nil else { return nil }
            scale = c
            scores = g.nodes[scores].inputs[0].id
        }
        guard case .matmul(false, true) = g.nodes[scores].op, single(scores) != nil else { return nil }
        let (q, a) = unscaled(g.nodes[scores].inputs[0].id), (k, b) = unscaled(g.nodes[scores].inputs[1].id)
        let qs = g.nodes[q].shape, ks = g.nodes[k].shape
        guard qs.count == r, ks.count == r, Array(qs.dropLast(2)) == batch, Array(ks.dropLast(2)) == batch,
              g.nodes[v].shape[r - 2] == m else { return nil }
        return Match(q: q, k: k, v: v, relH: relH, relW: relW, bias: bias, scale: scale * a * b, absorbed: absorbed)
    }
}
