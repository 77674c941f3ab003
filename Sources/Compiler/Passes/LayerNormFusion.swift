import Graph
import Kernels
import Primitives
import Tensor

/// LayerNorm fusion (at lowering): the primitive form of a layer norm becomes one `layerNorm`
/// step (`LayerNormKernel`), instead of five to seven steps and four full-size intermediates.
///
/// Pattern, matched from the root upwards (axis a; `cv` = a per-channel vector: C values, every
/// other dim 1, as `Graph.layerNorm` / `layerNorm2d` build it):
///
/// ```
///   μ = mean(x, [a], keep)      xc = x − μ      σ² = mean(square(xc), [a], keep)
///   y = xc · rsqrt(affine(σ²; 1, eps))  [· cv_w]  [+ cv_b]
///     ⇒  layer_norm(x [, w] [, b]; axis a, eps)
/// ```
///
/// Fires only when every intermediate is read inside the pattern alone (xc exactly twice, the
/// rest once) and none is a graph output. A training graph's backward reads xc and the rsqrt, so
/// there the primitives stay and keep the values backward needs.
struct LayerNormGroups {
    struct Match { var x: Int; var weight: Int?; var bias: Int?; var axis: Int; var eps: Float }
    /// root node id → match
    var roots: [Int: Match] = [:]
    /// nodes computed inside some root's step
    var absorbed = Set<Int>()
    var taken: Set<Int> { absorbed.union(roots.keys) }

    init() {}

    init(_ g: Graph, live: [Bool], isOutput: Set<Int>) {
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1 } }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] && !absorbed.contains(i) {
            guard let (m, inner) = Self.match(g, i, consumers, isOutput), absorbed.isDisjoint(with: inner) else { continue }
            roots[i] = m
            absorbed.formUnion(inner)
        }
    }

    static func match(_ g: Graph, _ root: Int, _ uses: [Int], _ isOutput: Set<Int>) -> (Match, [Int])? {
        let shape = g.nodes[root].shape, r = shape.count
        func op(_ id: Int) -> Op { g.nodes[id].op }
        func input(_ id: Int, _ k: Int = 0) -> Int { g.nodes[id].inputs[k].id }
        /// C values along axis `a`, every other dim 1 (missing leading dims count as 1)
        func channelVector(_ id: Int, _ a: Int) -> Bool {
            let s = g.nodes[id].shape
            guard s.count <= r else { return false }
            let padded = [Int](repeating: 1, count: r - s.count) + s
            return padded.indices.allSatisfy { padded[$0] == ($0 == a ? shape[a] : 1) }
        }
        /// (per-channel operand, full-size operand) of a binary node, for some axis
        func split(_ id: Int) -> (vector: Int, rest: Int)? {
            let (p, q) = (input(id, 0), input(id, 1))
            for (v, rest) in [(q, p), (p, q)] where g.nodes[rest].shape == shape && (0..<r).contains(where: { channelVector(v, $0) }) {
                return (v, rest)
            }
            return nil
        }
        /// xc · rsqrt(affine(mean(square(xc)); 1, eps)) with xc = x − mean(x): (x, axis, eps, xc, its private nodes)
        func normalise(_ id: Int) -> (x: Int, axis: Int, eps: Float, xc: Int, nodes: [Int])? {
            guard case .binary(.mul) = op(id) else { return nil }
            for (xc, rs) in [(input(id, 0), input(id, 1)), (input(id, 1), input(id, 0))] {
                guard case .binary(.sub) = op(xc), g.nodes[xc].shape == shape, case .unary(.rsqrt) = op(rs) else { continue }
                let aff = input(rs)
                guard case .unary(.affine(1, let eps)) = op(aff) else { continue }
                let v = input(aff)
                guard case .reduce(.mean, let axes, true) = op(v), axes.count == 1 else { continue }
                let sq = input(v)
                guard case .unary(.square) = op(sq), input(sq) == xc else { continue }
                let a = (axes[0] + r) % r, x = input(xc, 0), mu = input(xc, 1)
                guard case .reduce(.mean, let muAxes, true) = op(mu), muAxes.count == 1, (muAxes[0] + r) % r == a,
                      input(mu) == x, g.nodes[x].shape == shape else { continue }
                return (x, a, eps, xc, [rs, aff, v, sq, mu])
            }
            return nil
        }
        var cur = root, weight: Int? = nil, bias: Int? = nil
        var chain: [Int] = []            // full-size nodes between the root and the normalising product
        if case .binary(.add) = op(cur) {
            guard let (b, rest) = split(cur) else { return nil }
            bias = b; cur = rest; chain.append(rest)
        }
        if case .binary(.mul) = op(cur), normalise(cur) == nil {
            guard let (w, rest) = split(cur) else { return nil }
            weight = w; cur = rest; chain.append(rest)
        }
        guard let n = normalise(cur) else { return nil }
        if let w = weight, !channelVector(w, n.axis) { return nil }
        if let b = bias, !channelVector(b, n.axis) { return nil }
        let once = chain + n.nodes
        guard once.allSatisfy({ uses[$0] == 1 && !isOutput.contains($0) }), uses[n.xc] == 2, !isOutput.contains(n.xc) else { return nil }
        return (Match(x: n.x, weight: weight, bias: bias, axis: n.axis, eps: n.eps), once + [n.xc])
    }
}
