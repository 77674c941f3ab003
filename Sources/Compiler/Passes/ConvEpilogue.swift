import Graph
import Kernels
import Primitives

/// Conv epilogue folding ("conv-bn-fold"): a convolution followed by per-output-channel
/// arithmetic — BatchNorm in eval mode, a bias, any chain of add/sub/mul/div by one value per
/// channel — and optionally one elementwise activation becomes a single `conv2dEpilogue` step.
/// The kernel folds the chain into y = act((conv + o[c])·s[c] + t[c]) with o, s, t computed per
/// call from the operands (parameters stay run-time bindings), and applies it to each channel
/// plane while it is still in cache: the chain's separate pass over the result disappears.
///
/// Algorithm: walk live nodes from last to first; each `conv2d` not yet taken by another group
/// starts a chain. While the chain's current node has exactly one consumer and is not a graph
/// output, the consumer extends the chain when it is
///   - a binary add/sub/mul/div of the result's shape whose left operand is the current node
///     (either operand for add and mul) and whose other operand broadcasts along the channel
///     axis only (one value per channel, or a single value): a step; or
///   - an add of a tensor of the result's shape (a skip connection), once: the residual, after
///     which only an activation may follow; or
///   - a unary op of the result's shape: the activation, which ends the chain.
/// A chain of at least one step or an activation becomes a group rooted at its last node; the
/// conv and inner nodes get no step of their own. Intermediates read by anything else (a
/// training graph's backward reads the conv output and the normalised values) stop the chain,
/// so in training graphs the fold normally does not fire, and nothing is recomputed.
///
/// ```
///   x, w ─ conv2d ─ sub ─ mul ─ mul ─ add ─ geluErf ──▶     x, w, mean, rstd, γ, β
///            mean ─┘ rstd ┘  γ ─┘  β ─┘                 ⇒   ─▶ conv2d·[sub·mul·mul·add·geluErf]
/// ```
struct ConvEpilogueGroups {
    /// root node id → (conv node id, epilogue, per-channel operands as node ids)
    var roots: [Int: (conv: Int, epilogue: ChannelEpilogue, operands: [Int])] = [:]
    /// nodes computed inside some root's step (the conv and the inner chain nodes)
    var absorbed = Set<Int>()
    var taken: Set<Int> { absorbed.union(roots.keys) }

    init() {}

    /// `taken`: nodes another fusion already owns.
    init(_ g: Graph, live: [Bool], isOutput: Set<Int>, taken: Set<Int> = []) {
        var consumers = [[Int]](repeating: [], count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id].append(i) } }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] && !taken.contains(i) {
            guard case .conv2d = g.nodes[i].op else { continue }
            let shape = g.nodes[i].shape
            var cur = i, steps: [ChannelEpilogue.Step] = [], operands: [Int] = [], activation: UnaryFn? = nil
            var residual: Int? = nil
            var inner: [Int] = []
            while activation == nil, consumers[cur].count == 1, !isOutput.contains(cur) {
                let u = consumers[cur][0], n = g.nodes[u]
                // not owned by another fusion, nor by another chain of this one (two convs joined
                // by a skip connection both reach the add: the one walked first takes it)
                guard !taken.contains(u), !absorbed.contains(u), roots[u] == nil, n.shape == shape else { break }
                if case .unary(let f) = n.op {
                    activation = f
                } else if case .binary(let f) = n.op, ChannelEpilogue.foldable(f) {
                    let lhs = n.inputs[0].id, rhs = n.inputs[1].id
                    let commutes = f == .add || f == .mul
                    let other: Int
                    if lhs == cur && rhs != cur { other = rhs }
                    else if commutes && rhs == cur && lhs != cur { other = lhs }
                    else { break }
                    guard residual == nil else { break }
                    let k = operands.firstIndex(of: other) ?? { operands.append(other); return operands.count - 1 }()
                    if perChannel(g.nodes[other].shape, of: shape) {
                        steps.append(ChannelEpilogue.Step(f, k))
                    } else if f == .add, g.nodes[other].shape == shape {
                        residual = k
                    } else {
                        if k == operands.count - 1 { operands.removeLast() }
                        break
                    }
                } else {
                    break
                }
                if cur != i { inner.append(cur) }
                cur = u
            }
            guard cur != i else { continue }
            roots[cur] = (i, ChannelEpilogue(steps: steps, residual: residual, activation: activation), operands)
            absorbed.insert(i)
            absorbed.formUnion(inner)
        }
    }

    /// `s` broadcasts to NCHW `out` with at most the channel axis not 1.
    static func perChannel(_ s: [Int], of out: [Int]) -> Bool {
        guard s.count <= out.count else { return false }
        let lead = out.count - s.count
        for (k, d) in s.enumerated() where d != 1 { if k + lead != 1 || d != out[1] { return false } }
        return true
    }

    func perChannel(_ s: [Int], of out: [Int]) -> Bool { Self.perChannel(s, of: out) }
}
