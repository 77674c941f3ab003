import Graph
import Primitives
import Tensor

/// Broadcast hoisting (Graph → Graph): work done on a value that is only a copy of one batch
/// element, repeated along the leading axis, is done once on that element and broadcast after.
///
/// SAM's mask decoder broadcasts the single image embedding (and the dense positional encoding)
/// to every prompt box; the first two-way block then projects identical image tokens once per box.
/// Here `op(broadcast(x)) ⇒ broadcast(op(x))` for ops that act on each leading index on its own:
///
/// ```
///   elementwise(broadcast(a), b)   ⇒  broadcast(elementwise(a, b))     b: rank < R or b[0] = 1, or a broadcast too
///   reshape / permute (axis 0 stays leading, same batch)     ⇒  broadcast(reshape / permute(a))
///   matmul(broadcast(a), w)        ⇒  broadcast(matmul(a, w))        w: rank < R, w[0] = 1, or a broadcast too
///   softmax / reduce / slice / concat not over axis 0        ⇒  broadcast(… (a))
///   broadcast(broadcast(a, S), S')                           ⇒  broadcast(a, S')
/// ```
///
/// A value of rank R ≥ 1 is a *batch broadcast* of `a` when it is `broadcast(x, S)` with S[0] > 1
/// and x not spanning axis 0 (x of lower rank, or x[0] = 1); `a` is then x itself when its shape is
/// [1] + S[1…], else `broadcast(x, [1] + S[1…])`. Rules see operands already rewritten (one
/// forward walk, `Rewriter`), so a chain of per-batch ops hoists as a whole and only its final
/// broadcast remains; broadcasts left without readers are dropped by dead-code elimination.
///
/// Every rule computes each output element with the same operations on the same values, so the
/// forward values agree up to the GEMM library's blocking of a shorter row count. Run on a forward graph *before* autodiff (`Session` does so for
/// fused training graphs), the backward graph shrinks as well: the gradient of the hoisted
/// broadcast is one sum over the batch, taken before the hoisted ops' gradients instead of after.
public enum BroadcastHoisting {
    public static let name = "broadcast-hoisting"

    public static func apply(_ g: Graph) throws -> Graph {
        var sourceCache: [Int: Value] = [:]
        /// The batch-1 source of `v` when `v` is a batch broadcast.
        func source(_ v: Value, _ out: Graph) throws -> Value? {
            if let s = sourceCache[v.id] { return s }
            let node = out[v]
            guard case .broadcast(let shape) = node.op, shape.count >= 1, shape[0] > 1 else { return nil }
            let x = node.inputs[0], xs = out.shape(x)
            guard xs.count < shape.count || xs[0] == 1 else { return nil }
            let one = [1] + shape.dropFirst()
            let s = xs == one ? x : try out.add(.broadcast(shape: one), [x])
            sourceCache[v.id] = s
            return s
        }
        /// An operand that never spans axis 0 of a rank-`r` result of elementwise broadcasting.
        func batchFree(_ v: Value, rank r: Int, _ out: Graph) -> Bool {
            let s = out.shape(v)
            return s.count < r || s[0] == 1
        }
        return try Rewriter.run(g) { n, ins, out in
            let shape = n.shape, r = shape.count
            guard r >= 1, shape[0] > 1 else { return .keep }
            let one = [1] + shape.dropFirst()
            /// `op` on the sources gives one batch element; the node becomes its broadcast.
            func hoisted(_ op: Op, _ operands: [Value]) throws -> Rewriter.Action {
                let y = try out.add(op, operands)
                guard out.shape(y) == one else {
                    throw SamdgError("broadcast hoisting", "\(op.name) on batch sources gave \(ShapeMath.describe(out.shape(y))), expected \(ShapeMath.describe(one))")
                }
                return .replace(.broadcast(shape: shape), [y])
            }
            switch n.op {
            case .unary, .unaryGrad, .binary:
                var operands: [Value] = [], any = false
                for v in ins {
                    if out.shape(v).count == r, let s = try source(v, out) { operands.append(s); any = true }
                    else if batchFree(v, rank: r, out) { operands.append(v) }
                    else { return .keep }
                }
                return any ? try hoisted(n.op, operands) : .keep
            case .broadcast(let target):
                guard out.shape(ins[0]).count == r, let s = try source(ins[0], out) else { return .keep }
                return .replace(.broadcast(shape: target), [s])
            case .reshape:
                guard let s = try source(ins[0], out), out.shape(ins[0])[0] == shape[0] else { return .keep }
                return try hoisted(.reshape(shape: one), [s])
            case .permute(let perm):
                guard perm[0] == 0, let s = try source(ins[0], out) else { return .keep }
                return try hoisted(n.op, [s])
            case .softmax(let axis):
                guard ShapeMath.axis(axis, rank: r) != 0, let s = try source(ins[0], out) else { return .keep }
                return try hoisted(n.op, [s])
            case .reduce(_, let axes, _):
                let rin = out.shape(ins[0]).count
                guard !axes.contains(where: { ShapeMath.axis($0, rank: rin) == 0 }), let s = try source(ins[0], out) else { return .keep }
                return try hoisted(n.op, [s])
            case .slice(let starts, var ends, let steps):
                guard starts[0] == 0, ends[0] == shape[0], steps[0] == 1, let s = try source(ins[0], out) else { return .keep }
                ends[0] = 1
                return try hoisted(.slice(starts: starts, ends: ends, steps: steps), [s])
            case .concat(let axis):
                guard ShapeMath.axis(axis, rank: r) != 0 else { return .keep }
                var operands: [Value] = []
                for v in ins {
                    guard let s = try source(v, out) else { return .keep }
                    operands.append(s)
                }
                return try hoisted(n.op, operands)
            case .matmul:
                guard r >= 3 else { return .keep }
                let a = ins[0], b = ins[1]
                let sa = out.shape(a).count == r ? try source(a, out) : nil
                let sb = out.shape(b).count == r ? try source(b, out) : nil
                let aFree = batchFree(a, rank: r, out), bFree = batchFree(b, rank: r, out)
                if let sa, sb != nil || bFree { return try hoisted(n.op, [sa, sb ?? b]) }
                if let sb, aFree { return try hoisted(n.op, [a, sb]) }
                // With one side per batch element the broadcast stays: the batch-1 form would
                // keep attention fusion (equal batch dims) from matching.
                return .keep
            default:
                return .keep
            }
        }
    }
}
