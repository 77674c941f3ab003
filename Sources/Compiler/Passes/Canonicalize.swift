import Graph
import Primitives
import Tensor

/// Canonicalisation (Graph → Graph): exact local rewrites that remove no-op layout and scaling
/// nodes and collapse chains, so later passes see one canonical form of each pattern.
///
/// Rules (each bit-exact: no rounding changes):
///
/// ```
///   affine(x; 1, 0)            ⇒  x
///   reshape(x) to x's shape    ⇒  x          reshape(reshape(x))     ⇒  reshape(x)
///   permute(x; identity)       ⇒  x          permute(permute(x; p); q) ⇒  permute(x; p∘q)
///   broadcast(x) to x's shape  ⇒  x
///   slice(x) of everything, step 1 ⇒ x
/// ```
///
/// Algorithm: one forward walk (`Rewriter`); a node's operands are already canonical when it is
/// visited, so chains collapse in a single pass. Nodes left without readers are dropped later by
/// dead-code elimination.
public enum Canonicalize {
    public static let name = "canonicalize"

    public static func apply(_ g: Graph) throws -> Graph {
        try Rewriter.run(g) { n, ins, out in
            let inShape = ins.first.map { out.shape($0) }
            switch n.op {
            case .unary(.affine(1, 0)):
                return .alias(ins[0])
            case .reshape(let shape):
                if inShape == shape { return .alias(ins[0]) }
                if case .reshape = out.nodes[ins[0].id].op {
                    let src = out.nodes[ins[0].id].inputs[0]
                    return out.shape(src) == shape ? .alias(src) : .replace(n.op, [src])
                }
            case .permute(let p):
                if p == Array(p.indices) { return .alias(ins[0]) }
                if case .permute(let inner) = out.nodes[ins[0].id].op {
                    let composed = p.map { inner[$0] }          // out[i] = x[inner[p[i]]]
                    let src = out.nodes[ins[0].id].inputs[0]
                    return composed == Array(composed.indices) ? .alias(src) : .replace(.permute(perm: composed), [src])
                }
            case .broadcast(let shape):
                if inShape == shape { return .alias(ins[0]) }
            case .slice(let starts, let ends, let steps):
                if let s = inShape, starts.allSatisfy({ $0 == 0 }), steps.allSatisfy({ $0 == 1 }), ends == s { return .alias(ins[0]) }
            default:
                break
            }
            return .keep
        }
    }
}
