import Graph
import Primitives
import Tensor

/// Common-subexpression elimination (Graph → Graph): two nodes with the same op, attributes and
/// operands compute the same value; the later one becomes a use of the earlier.
///
/// Algorithm: value numbering in one forward walk. A node's key is its op text (name and
/// attributes, as the structural hash spells them) and its operands' new ids; since operands are
/// numbered before their users, equal subtrees meet at their leaves first and merge bottom-up.
/// Inputs and parameters are unique by name, so only constants among the leaves merge. Nodes
/// labelled as recomputed copies (`Rematerialize`) are left alone.
///
/// ```
///   a = matmul(x, w)   b = matmul(x, w)   y = add(a, b)   ⇒   a = matmul(x, w)   y = add(a, a)
/// ```
public enum CommonSubexpressions {
    public static let name = "cse"

    public static func apply(_ g: Graph) throws -> Graph {
        var seen: [String: Value] = [:]
        return try Rewriter.run(g) { n, ins, out in
            switch n.op {
            case .input, .parameter: return .keep
            default: break
            }
            // recomputed copies (`Rematerialize`) equal their forward originals by construction;
            // merging them would undo the recomputation
            if n.label?.hasPrefix(Rematerialize.labelPrefix) == true { return .keep }
            let key = "\(n.op.name)|\(n.op.attributeText)|\(ShapeMath.describe(n.shape))|" + ins.map { String($0.id) }.joined(separator: ",")
            if let v = seen[key] { return .alias(v) }
            seen[key] = Value(out.nodes.count)          // the id `.keep` is about to give it
            return .keep
        }
    }
}
