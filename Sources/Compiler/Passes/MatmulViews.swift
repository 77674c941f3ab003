import Graph
import Kernels
import Primitives

/// Matmul views (plan-level fusion): the layout ops around multi-head attention — the head split
/// `permute(reshape(x), [0, 2, 1, 3])`, a batch `broadcast` of a shared operand, the head merge
/// permute of the result — are folded into the matmul that reads or writes them, which then
/// reaches the data by strides (`GemmView`, `Kernel.matmulView`) instead of through a copy.
///
/// Rules, for a matmul not owned by another fusion:
///
/// ```
///   operand = [broadcast(…)] of [permute(x, p)]          ⇒  the step reads x through view (p, operand shape)
///       p keeps the last axis last; the broadcast has the operand's rank and expands batch axes only
///   matmul ─▶ permute(·, q) as its only reader            ⇒  the step writes the permute's result directly
///       q keeps the last axis last; the matmul is not a graph output
/// ```
///
/// Algorithm: one pass over live matmuls in node order; a match records the step's root (the
/// matmul, or its output permute, which then absorbs the matmul) and the nodes it reads (x
/// instead of the permute/broadcast). Permutes and broadcasts that no step reads any more are
/// dropped by the lowering's second liveness pass; ones that others still read stay, and the
/// view costs nothing extra. The arithmetic is the same GEMM on the same numbers; only addresses
/// change.
struct MatmulViewGroups {
    struct Match {
        var matmul: Int
        var a: Int, aView: GemmView?
        var b: Int, bView: GemmView?
        var yView: GemmView?
    }
    /// step root (a matmul, or the permute of its result) → match
    var roots: [Int: Match] = [:]
    /// matmuls computed in their output permute's step
    var absorbed = Set<Int>()
    /// nodes this fusion owns (roots and absorbed matmuls)
    var taken = Set<Int>()

    init() {}

    /// `taken`: nodes another fusion already owns; `absorbedElsewhere`: nodes without a slot.
    init(_ g: Graph, live: [Bool], isOutput: Set<Int>, taken other: Set<Int>, absorbedElsewhere: Set<Int>) {
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        var consumer = [Int](repeating: -1, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1; consumer[v.id] = i } }
        func keepsLast(_ p: [Int]) -> Bool { p.count >= 3 && p.last == p.count - 1 }
        /// (node read, view) for a matmul operand
        func operand(_ id: Int) -> (Int, GemmView?) {
            let shape = g.nodes[id].shape, r = shape.count
            var src = id, perm = Array(0..<r)
            if case .broadcast = g.nodes[src].op, !other.contains(src) {
                let x = g.nodes[src].inputs[0].id, xs = g.nodes[x].shape
                if xs.count == r, r >= 3, Array(xs.suffix(2)) == Array(shape.suffix(2)) { src = x }
            }
            if case .permute(let p) = g.nodes[src].op, keepsLast(p), !other.contains(src) {
                perm = p
                src = g.nodes[src].inputs[0].id
            }
            guard src != id, !absorbedElsewhere.contains(src), !absorbed.contains(src) else { return (id, nil) }
            return (src, GemmView(perm: perm, shape: shape))
        }
        for i in g.nodes.indices where live[i] && !other.contains(i) {
            guard case .matmul = g.nodes[i].op else { continue }
            let (a, av) = operand(g.nodes[i].inputs[0].id), (b, bv) = operand(g.nodes[i].inputs[1].id)
            var root = i, yView: GemmView? = nil
            let c = consumer[i]
            if consumers[i] == 1, !isOutput.contains(i), c >= 0, !other.contains(c), case .permute(let q) = g.nodes[c].op, keepsLast(q) {
                root = c
                yView = GemmView(perm: q, shape: g.nodes[i].shape)
            }
            guard av != nil || bv != nil || yView != nil else { continue }
            roots[root] = Match(matmul: i, a: a, aView: av, b: b, bView: bv, yView: yView)
            if root != i { absorbed.insert(i) }
            taken.formUnion([root, i])
        }
    }
}
