import Graph
import Primitives
import Tensor

/// Slice sinking (Graph → Graph): a slice that keeps some rows of a product is taken before the
/// product, so rows nobody reads are never computed.
///
/// SAM's mask decoder computes all four masks (`hyper_in @ upscaled`, [B, 4, 256²]) and single-
/// mask training keeps the first: the other three rows of the product, and the hypernetwork MLPs
/// that feed only them, are dead work. Rules, for `slice(x)` with step 1 on the sliced axes:
///
/// ```
///   slice(reshape(y))      ⇒  reshape(slice(y))      when the reshape keeps every axis up to the
///                                                    last sliced one (it splits/merges later axes)
///   slice(matmul(a, b))    ⇒  matmul(slice(a), b)    sliced on the row axis only (a has the
///                                                    result's rank; Aᵀ: a's last axis)
///   slice(concat(parts))   ⇒  the parts it covers    sliced on the concat axis only, at part
///                                                    boundaries (one part: that part itself)
/// ```
///
/// Algorithm: one forward walk (`Rewriter`); a slice is rebuilt by recursing through these ops
/// as long as a rule applies, and a plain slice of what remains. Values are unchanged (every
/// element is computed by the same operations); producers left without readers are dropped by
/// dead-code elimination, and before autodiff (`Compiler.prepareForAutodiff`) their parameters
/// get zero gradients without any backward work.
public enum SliceSinking {
    public static let name = "slice-sinking"

    public static func apply(_ g: Graph) throws -> Graph {
        try Rewriter.run(g) { n, ins, out in
            guard case .slice(let starts, let ends, let steps) = n.op else { return .keep }
            let v = try sink(ins[0], starts, ends, steps, out)
            return v == nil ? .keep : .alias(v!)
        }
    }

    /// The sliced value built below `x`'s producer, or nil when no rule applies at `x`.
    static func sink(_ x: Value, _ starts: [Int], _ ends: [Int], _ steps: [Int], _ out: Graph) throws -> Value? {
        let shape = out.shape(x), node = out[x], r = shape.count
        let cut = (0..<r).filter { starts[$0] != 0 || ends[$0] != shape[$0] || steps[$0] != 1 }
        guard let last = cut.last, cut.allSatisfy({ steps[$0] == 1 }) else { return nil }
        /// slice of `v` (recursing when a rule applies there)
        func slice(_ v: Value, _ s: [Int], _ e: [Int]) throws -> Value {
            let ones = [Int](repeating: 1, count: s.count)
            return try sink(v, s, e, ones, out) ?? out.add(.slice(starts: s, ends: e, steps: ones), [v])
        }
        switch node.op {
        case .reshape:
            let y = node.inputs[0], ys = out.shape(y)
            guard ys.count > last, Array(ys.prefix(last + 1)) == Array(shape.prefix(last + 1)) else { return nil }
            let s = Array(starts.prefix(last + 1)) + [Int](repeating: 0, count: ys.count - last - 1)
            let e = Array(ends.prefix(last + 1)) + Array(ys.dropFirst(last + 1))
            let sliced = try slice(y, s, e)
            return try out.add(.reshape(shape: starts.indices.map { ends[$0] - starts[$0] }), [sliced])
        case .matmul(let ta, _):
            let a = node.inputs[0]
            guard r >= 2, cut == [r - 2], out.shape(a).count == r else { return nil }
            let axis = ta ? r - 1 : r - 2
            var s = [Int](repeating: 0, count: r), e = out.shape(a)
            s[axis] = starts[r - 2]; e[axis] = ends[r - 2]
            return try out.add(node.op, [slice(a, s, e), node.inputs[1]])
        case .concat(let axis0):
            guard let axis = ShapeMath.axis(axis0, rank: r), cut == [axis] else { return nil }
            var offset = 0, covered: [Value] = []
            for p in node.inputs {
                let len = out.shape(p)[axis]
                if offset >= starts[axis] && offset + len <= ends[axis] { covered.append(p) }
                else if offset < ends[axis] && offset + len > starts[axis] { return nil }      // cuts through a part
                offset += len
            }
            guard !covered.isEmpty else { return nil }
            return covered.count == 1 ? covered[0] : try out.add(node.op, covered)
        default:
            return nil
        }
    }
}
