import Graph
import Kernels
import Primitives
import Tensor

/// Constant folding (Graph → Graph): ops whose operands are all constant fills become constant
/// fills themselves, so no step computes them at run time.
///
/// The graph's constants are uniform fills (`constant(v, shape)`), so a node folds when it maps
/// fills to a fill:
///
/// ```
///   unary f(c)                 ⇒  constant(f(c))        f from its Double reference, rounded once
///   binary c₁ ∘ c₂             ⇒  constant(c₁ ∘ c₂)     in Float, as the kernels compute it
///   broadcast / reshape / permute / slice / pad-with-c / concat of fills of c  ⇒  constant(c)
///   reduce sum / mean / max over n elements of c  ⇒  constant(n·c / c / c)
/// ```
///
/// Algorithm: one forward walk (`Rewriter`), so folded results feed later folds. A folded node
/// may differ from the kernel's SIMD approximation of f by a few ulp (the fold is the more
/// exact). unaryGrad, softmax and the contractions are left alone.
public enum ConstantFolding {
    public static let name = "constant-folding"

    public static func apply(_ g: Graph) throws -> Graph {
        try Rewriter.run(g) { n, ins, out in
            guard !ins.isEmpty else { return .keep }
            var values: [Float] = []
            for v in ins {
                guard case .constant(let c, _) = out.nodes[v.id].op else { return .keep }
                values.append(c)
            }
            guard let folded = fold(n.op, values, inputShapes: ins.map { out.shape($0) }) else { return .keep }
            return .alias(out.constant(folded, n.shape))
        }
    }

    /// The fill value `op` gives on fills of `values`, or nil when it does not fold.
    static func fold(_ op: Op, _ values: [Float], inputShapes: [[Int]]) -> Float? {
        switch op {
        case .unary(let f): return Float(f.reference(Double(values[0])))
        case .binary(let f):
            let (a, b) = (values[0], values[1])
            switch f {
            case .add: return a + b
            case .sub: return a - b
            case .mul: return a * b
            case .div: return a / b
            case .maximum: return Swift.max(a, b)
            case .minimum: return Swift.min(a, b)
            case .equal: return a == b ? 1 : 0
            }
        case .broadcast, .reshape, .permute, .slice:
            return values[0]
        case .pad(_, _, let v):
            return v == values[0] ? v : nil
        case .concat:
            return values.allSatisfy { $0 == values[0] } ? values[0] : nil
        case .reduce(let f, let axes, _):
            let s = inputShapes[0]
            let n = axes.reduce(1) { $0 * s[ShapeMath.axis($1, rank: s.count) ?? $1] }
            guard n > 0 else { return nil }
            switch f {
            case .sum: return Float(n) * values[0]
            case .mean, .max: return values[0]
            }
        default:
            return nil
        }
    }
}
