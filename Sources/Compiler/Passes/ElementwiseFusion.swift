import Graph
import Kernels
import Primitives

/// Elementwise fusion (TVM's injective/elementwise grouping, restricted to one output shape).
///
/// Algorithm: walk live nodes from last to first. An unfused elementwise node (unary, unary_grad,
/// binary) roots a group; the group absorbs an operand when that operand is elementwise or a
/// constant fill, has the group's shape (operands of other shapes stay outside and are broadcast
/// by strides), feeds nothing else, and is not a graph output. An operand that is a `broadcast`
/// node (not an output) is read through: the group loads the broadcast's input by strides, so the
/// broadcast result need not exist; it is dropped when no step reads it any more (the lowering's
/// second liveness pass). Each group of two or more ops, or of one op that reads through a
/// broadcast, becomes one `fused` step; its members never get a buffer.
///
/// A reduce_sum / reduce_mean whose input is elementwise and feeds nothing else (and whose axes
/// `FusedReduceKernel` supports) roots its input's group instead: one `fusedReduce` step sums the
/// program's blocks as they are computed, so the input is never written (TVM's
/// elementwise-into-reduction rule; LayerNorm statistics, norm-weight gradients, loss sums).
///
/// ```
///   x ──sub── mul ── mul ── add ──▶        x, mean, inv, w, b ──▶ fused[sub·mul·mul·add] ──▶
///   mean ┘  inv ┘    w ┘    b ┘            (one read of x, one write; no intermediates)
///
///   dy ──broadcast──▶ mul ◀── x            dy [4, 1, 256], x ──▶ fused[mul] (dy read by strides)
///
///   dy, xhat ──mul── reduce_sum[0, 1] ──▶   dy, xhat ──▶ fused[mul]·reduce_sum[0, 1] ──▶ [256]
/// ```
struct FusionGroups {
    /// root node id → program and external operands (node ids), for groups of ≥ 2 ops
    var programs: [Int: (program: FusedProgram, operands: [Int])] = [:]
    /// reduce node id → the fused program of its elementwise input (evaluated over `shape`) and
    /// the program's external operands
    var reductions: [Int: (program: FusedProgram, operands: [Int], f: ReduceFn, axes: [Int], shape: [Int])] = [:]
    /// nodes folded into some other node's group
    var absorbed = Set<Int>()

    init() {}

    /// `taken`: nodes another fusion already owns (neither roots nor absorbed here); `cse`: run
    /// `FusedProgramCSE` on each program.
    init(_ g: Graph, live: [Bool], isOutput: Set<Int>, taken: Set<Int> = [], cse: Bool = true) {
        var consumers = [Int](repeating: 0, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() where live[i] { for v in n.inputs { consumers[v.id] += 1 } }
        func isElementwise(_ op: Op) -> Bool {
            switch op { case .unary, .unaryGrad, .binary: return true; default: return false }
        }
        for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] && !absorbed.contains(i) && !taken.contains(i) {
            var root = g.nodes[i]
            var reduction: (f: ReduceFn, axes: [Int], input: Int)? = nil
            if case .reduce(let f, let axes, _) = root.op {
                // a sum or mean takes its elementwise input's group (when it feeds nothing else)
                let input = root.inputs[0].id, shape = g.nodes[input].shape
                guard FusedReduceKernel.supports(f, axes: axes, shape: shape), isElementwise(g.nodes[input].op),
                      consumers[input] == 1, !isOutput.contains(input), !taken.contains(input) else { continue }
                reduction = (f, axes, input)
                root = g.nodes[input]
            }
            guard isElementwise(root.op) else { continue }
            var instrs: [FusedProgram.Instr] = []
            var operands: [Int] = []
            var members: [Int] = []
            func absorbable(_ id: Int) -> Bool {
                let n = g.nodes[id]
                guard n.shape == root.shape, consumers[id] == 1, !isOutput.contains(id), !taken.contains(id) else { return false }
                if case .constant = n.op { return true }
                return isElementwise(n.op)
            }
            var readsThrough = false
            /// the node a load of `id` reads: through broadcasts to their inputs
            func source(_ id: Int) -> Int {
                guard case .broadcast = g.nodes[id].op, !isOutput.contains(id), !taken.contains(id) else { return id }
                readsThrough = true
                return source(g.nodes[id].inputs[0].id)
            }
            func emit(_ id: Int, top: Bool) -> Int {
                if !top && !absorbable(id) {
                    let src = source(id)
                    let k = operands.firstIndex(of: src) ?? { operands.append(src); return operands.count - 1 }()
                    instrs.append(.load(k)); return instrs.count - 1
                }
                if !top { members.append(id) }
                let n = g.nodes[id]
                switch n.op {
                case .constant(let v, _): instrs.append(.constant(v))
                case .unary(let f): let a = emit(n.inputs[0].id, top: false); instrs.append(.unary(f, a))
                case .unaryGrad(let f):
                    let a = emit(n.inputs[0].id, top: false), b = emit(n.inputs[1].id, top: false); instrs.append(.unaryGrad(f, a, b))
                case .binary(let f):
                    let a = emit(n.inputs[0].id, top: false), b = emit(n.inputs[1].id, top: false); instrs.append(.binary(f, a, b))
                default: fatalError("not elementwise")
                }
                return instrs.count - 1
            }
            if let red = reduction {
                _ = emit(red.input, top: true)
                absorbed.formUnion(members + [red.input])
                let program = FusedProgram(instrs)
                reductions[i] = (cse ? FusedProgramCSE.apply(program) : program, operands, red.f, red.axes, root.shape)
                continue
            }
            _ = emit(i, top: true)
            if members.isEmpty && !readsThrough { continue }
            absorbed.formUnion(members)
            let program = FusedProgram(instrs)
            programs[i] = (cse ? FusedProgramCSE.apply(program) : program, operands)
        }
    }
}
