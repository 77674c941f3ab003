import Graph
import Primitives
import Tensor

/// Crop before linear (Graph → Graph): a token-wise linear layer whose result is only reshaped,
/// permuted along its leading axes and cropped runs after the crop instead, on the rows that
/// survive it. SAM's windowed blocks project all padded window tokens and then crop the padding
/// off (`window_unpartition`); here the projection sees only the H·W real tokens, and the
/// residual add that follows meets the matmul directly (one GEMM with two terms).
///
/// ```
///   A [… , Cin] ─ matmul(·, W [Cout, Cin]ᵀ) ─[add bias [Cout]]─ reshape/permute/slice … ─ E [… , Cout]
///
///   ⇒  A ─ reshape/permute/slice … (same ops, last axis Cin) ─ matmul(·, W) ─[add bias]─ E
/// ```
///
/// Exact: each output row is the same dot products of the same input row (bit-identical, as the
/// GEMM computes each row alike). The layout ops must keep the last axis where it is and whole
/// (reshapes keep its size, permutes keep it last, slices take all of it); every node from the
/// matmul to the op before E has one live consumer (dead nodes, which DCE removes later, do not
/// count) and is not a graph output; and the chain must drop elements (otherwise nothing is saved).
public enum CropBeforeLinear {
    public static let name = "crop-before-linear"

    struct Match {
        var a: Int, w: Int, transposeB: Bool, bias: Int?
        var chain: [Int]
    }

    public static func apply(_ g: Graph) throws -> Graph {
        // consumers among live nodes only: a dead view of the projection (TinyViT's builder
        // leaves an unused reshape of it) must not count as a second reader
        var live = [Bool](repeating: false, count: g.nodes.count)
        for (_, v) in g.outputs { live[v.id] = true }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] { for v in g.nodes[i].inputs { live[v.id] = true } }
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1 } }
        let outputs = Set(g.outputs.map(\.value.id))
        func single(_ id: Int) -> Bool { consumers[id] == 1 && !outputs.contains(id) }
        var next = [Int?](repeating: nil, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs where consumers[v.id] == 1 { next[v.id] = i } }

        var matches: [Int: Match] = [:]         // chain end → match
        for (i, n) in g.nodes.enumerated() where live[i] {
            guard case .matmul(false, let tb) = n.op, single(i) else { continue }
            let a = n.inputs[0].id, w = n.inputs[1].id
            let ws = g.nodes[w].shape, ms = n.shape
            guard ws.count == 2, ms.count >= 2 else { continue }
            let cout = ms[ms.count - 1]
            var cur = i
            var bias: Int? = nil
            if let add = next[i], case .binary(.add) = g.nodes[add].op, g.nodes[add].shape == ms {
                let other = g.nodes[add].inputs.map(\.id).first { $0 != i }
                if let b = other, g.nodes[add].inputs.count == 2, g.nodes[add].inputs.filter({ $0.id == i }).count == 1,
                   g.nodes[b].shape.last == cout, g.nodes[b].shape.dropLast().allSatisfy({ $0 == 1 }) {
                    bias = b; cur = add
                }
            }
            var chain: [Int] = []
            while single(cur), let c = next[cur], keepsLastAxis(g, c) {
                chain.append(c); cur = c
            }
            // the chain must drop elements; the bias must still broadcast onto its end
            guard let end = chain.last, ShapeMath.count(g.nodes[end].shape) < ShapeMath.count(ms),
                  g.nodes[end].shape.count >= 2,
                  bias.map({ g.nodes[$0].shape.count <= g.nodes[end].shape.count }) ?? true else { continue }
            matches[end] = Match(a: a, w: w, transposeB: tb, bias: bias, chain: chain)
        }
        if matches.isEmpty { return g }

        let out = Graph()
        var map = [Value?](repeating: nil, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() {
            out.currentLabel = n.label
            if let m = matches[i] {
                var x = map[m.a]!
                for c in m.chain {
                    let cin = out.shape(x).last!
                    switch g.nodes[c].op {
                    case .reshape(let s): x = try out.reshape(x, Array(s.dropLast()) + [cin])
                    case .permute(let p): x = try out.permute(x, p)
                    case .slice(let st, let en, let sp):
                        x = try out.add(.slice(starts: st, ends: Array(en.dropLast()) + [cin], steps: sp), [x])
                    default: fatalError("crop-before-linear: \(g.nodes[c].op.name) in a chain")
                    }
                }
                out.currentLabel = g.nodes[m.bias ?? m.chain[0]].label ?? n.label
                var y = try out.matmul(x, map[m.w]!, transposeB: m.transposeB)
                if let b = m.bias { y = try out.add(y, map[b]!) }
                map[i] = y
            } else {
                map[i] = try out.add(n.op, n.inputs.map { map[$0.id]! })
            }
        }
        out.currentLabel = nil
        for (name, v) in g.outputs { out.output(name, map[v.id]!) }
        return out
    }

    /// A reshape, permute or slice that only moves or drops rows: the last axis stays last and whole.
    static func keepsLastAxis(_ g: Graph, _ id: Int) -> Bool {
        let n = g.nodes[id]
        let ins = g.nodes[n.inputs[0].id].shape
        guard let c = ins.last, n.shape.last == c else { return false }
        switch n.op {
        case .reshape: return n.shape.count >= 1
        case .permute(let p): return p.last == p.count - 1
        case .slice(let st, let en, let sp): return st.last == 0 && en.last == c && sp.last == 1
        default: return false
        }
    }
}
