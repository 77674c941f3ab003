import Graph
import Kernels
import Primitives

/// GEMM accumulation (a GEMM "epilogue" that costs nothing): a sum that contains a matmul
/// result becomes one `matmulAccumulate` step that first writes the other terms into the result
/// buffer, then lets sgemm add the product to it with beta = 1.
///
/// Why it pays: for beta = 0, OpenBLAS clears C in a pass of its own before accumulating into
/// it. Filling C with the addend instead (a bias broadcast, a residual, or both summed) takes
/// that pass's place, so `linear + bias` costs what the bare GEMM costs, and `x + linear(h)`
/// loses the separate read-add-write pass over the product.
///
/// Algorithm: walk live nodes from last to first. An `add` that is not yet taken roots a sum
/// tree: it descends through `add` operands of the root's shape that feed nothing else and are
/// not graph outputs. When one leaf is a matmul of the root's shape with that same single use,
/// the root becomes `matmulAccumulate(A, B; addend = Σ other leaves)` (each leaf broadcast by
/// strides; a leaf that is a `broadcast` is read through to its input, so the copy need not
/// exist), and the tree's inner adds and the matmul get no step of their own. When the sum
/// feeds exactly one unary op (an MLP's GELU) and is not a graph output, that op joins as the
/// step's activation, run in place right after the GEMM (the group's root is then the unary op;
/// its separate pass and buffer disappear). Roots and
/// members are then off limits to elementwise fusion, which runs next.
///
/// Inference plans only. In a training plan (`Compiler.compile(training:)`) the sums stay as
/// the unfused plan adds them: sgemm with beta = 1 adds each K-block of the product into the
/// prefilled C, a different rounding order than product-then-add, and attention's gradients
/// amplify such 1e-7 differences by the size of its logits (softmax's condition number). With it
/// off, sam_small's fused and unfused decoder gradients agreed to 1.2e-6 instead of 1.5e-5, and
/// the decoder train step measured no slower (single-thread user time 6.78 vs 6.93 s over three
/// alternated 8-step runs).
///
/// ```
///   h ─ matmul(·, Wᵀ) ──┐                         h, W ─▶ matmulAccumulate[x + b]
///               b ─── add ── add ──▶       ⇒     (fill C = x + b; C += h·Wᵀ)
///                      x ───┘
/// ```
struct GemmAccumulateGroups {
    /// root node id → (matmul node id, addend program, its operands as node ids)
    var roots: [Int: (matmul: Int, addend: FusedProgram, operands: [Int], activation: UnaryFn?)] = [:]
    /// nodes computed inside some root's step (the matmul and inner adds)
    var absorbed = Set<Int>()
    /// every node a group owns (roots and absorbed), for the elementwise fusion to leave alone
    var taken: Set<Int> { absorbed.union(roots.keys) }

    init() {}

    /// `taken`: nodes another fusion already owns.
    init(_ g: Graph, live: [Bool], isOutput: Set<Int>, taken: Set<Int> = []) {
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        var consumer = [Int](repeating: -1, count: g.nodes.count)   // the last one
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1; consumer[v.id] = i } }
        func isAdd(_ id: Int) -> Bool { if case .binary(.add) = g.nodes[id].op { return true }; return false }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] && !absorbed.contains(i) && !taken.contains(i) && isAdd(i) {
            let shape = g.nodes[i].shape
            func private_(_ id: Int) -> Bool {
                g.nodes[id].shape == shape && consumers[id] == 1 && !isOutput.contains(id) && !taken.contains(id)
            }
            var leaves: [Int] = [], inner: [Int] = [], stack = g.nodes[i].inputs.map(\.id)
            while let t = stack.popLast() {
                if isAdd(t), private_(t), !absorbed.contains(t) {
                    inner.append(t)
                    stack.append(contentsOf: g.nodes[t].inputs.map(\.id))
                } else {
                    leaves.append(t)
                }
            }
            guard let mi = leaves.firstIndex(where: { id in
                if case .matmul = g.nodes[id].op { return private_(id) && !absorbed.contains(id) }
                return false
            }) else { continue }
            let mm = leaves.remove(at: mi)
            // addend = Σ other leaves (a leaf read twice is loaded once)
            var operands: [Int] = [], instrs: [FusedProgram.Instr] = []
            var sum = -1
            for leaf0 in leaves {
                // a broadcast term is read through (the fill broadcasts by strides): its copy need not exist
                var leaf = leaf0
                while case .broadcast = g.nodes[leaf].op, !isOutput.contains(leaf), !taken.contains(leaf) { leaf = g.nodes[leaf].inputs[0].id }
                let slot = operands.firstIndex(of: leaf) ?? { operands.append(leaf); return operands.count - 1 }()
                instrs.append(.load(slot))
                if sum >= 0 { instrs.append(.binary(.add, sum, instrs.count - 1)) }
                sum = instrs.count - 1
            }
            var root = i, activation: UnaryFn? = nil
            if consumers[i] == 1, !isOutput.contains(i), !taken.contains(consumer[i]), case .unary(let f) = g.nodes[consumer[i]].op,
               g.nodes[consumer[i]].shape == shape {
                root = consumer[i]; activation = f
                absorbed.insert(i)
            }
            roots[root] = (mm, FusedProgram(instrs), operands, activation)
            absorbed.insert(mm)
            absorbed.formUnion(inner)
        }
    }
}
