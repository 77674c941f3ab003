import Tensor
import Primitives

/// Structural zero-sum analysis for gradients.
///
/// The gradient that leaves a softmax sums to zero along the softmax axis (softmax is invariant
/// to adding a constant along that axis). Linear ops carry that property along:
///
/// ```
///   softmax_grad(y, dy)        zero-sum on the key axis          [B, H, Nq, Nk]
///        │ matmul(dS, q, transA)                                  dK = dSᵀ·q
///        ▼
///   dK  zero-sum on its token axis                                [B, H, Nk, c]
///        │ permute / reshape (axis kept whole)
///        ▼
///   reduce-sum over tokens  ⇒  exactly 0                          e.g. the key-projection bias
/// ```
///
/// `reduceTo` consults this: a sum over a zero-sum axis is replaced by an exact zero constant,
/// which both saves the work and gives the true gradient (0) instead of float round-off.
extension Graph {
    /// Axes of `v` along which every line sums to zero by construction.
    public func zeroSumAxes(_ v: Value) -> Set<Int> {
        if let hit = zeroSumCache[v.id] { return hit }
        let n = nodes[v.id]
        let r = n.shape.count
        var out = Set<Int>()
        switch n.op {
        case .softmaxGrad(let a):
            if let ax = ShapeMath.axis(a, rank: r), n.shape[ax] > 1 { out = [ax] }
        case .unary(.neg), .unary(.affine(_, 0)):
            out = zeroSumAxes(n.inputs[0])
        case .unaryGrad(.neg), .unaryGrad(.affine):
            out = zeroSumAxes(n.inputs[1])      // dy·constant
        case .binary(let f) where f == .add || f == .sub:
            out = aligned(n.inputs[0], r).intersection(aligned(n.inputs[1], r))
        case .binary(.mul), .binary(.div):
            // zero-sum × something constant along that axis (broadcast there)
            let a = n.inputs[0], b = n.inputs[1]
            let za = aligned(a, r).filter { isConstantAlong(b, axis: $0, rank: r) }
            let zb = f(n.op) == .mul ? aligned(b, r).filter { isConstantAlong(a, axis: $0, rank: r) } : []
            out = Set(za).union(zb)
        case .permute(let perm):
            let zin = zeroSumAxes(n.inputs[0])
            out = Set((0..<r).filter { zin.contains(perm[$0]) })
        case .reshape:
            let ins = shape(n.inputs[0])
            for a in zeroSumAxes(n.inputs[0]) {
                let before = ins[..<a].reduce(1, *)
                if let b = (0..<r).first(where: { n.shape[$0] == ins[a] && n.shape[..<$0].reduce(1, *) == before }) { out.insert(b) }
            }
        case .reduce(.sum, let axes, let keep):
            let ins = shape(n.inputs[0])
            let red = Set(axes.compactMap { ShapeMath.axis($0, rank: ins.count) })
            for a in zeroSumAxes(n.inputs[0]) where !red.contains(a) {
                out.insert(keep ? a : a - red.filter { $0 < a }.count)
            }
        case .matmul(let ta, let tb):
            let a = n.inputs[0], b = n.inputs[1]
            let ra = shape(a).count, rb = shape(b).count
            if zeroSumAxes(a).contains(ta ? ra - 1 : ra - 2) { out.insert(r - 2) }
            if zeroSumAxes(b).contains(tb ? rb - 2 : rb - 1) { out.insert(r - 1) }
        default:
            break
        }
        zeroSumCache[v.id] = out
        return out
    }

    private func f(_ op: Op) -> BinaryFn? { if case .binary(let g) = op { return g }; return nil }

    /// Zero-sum axes of `v` renumbered for a broadcast result of rank `r`.
    private func aligned(_ v: Value, _ r: Int) -> Set<Int> {
        let s = shape(v), lead = r - s.count
        return Set(zeroSumAxes(v).map { $0 + lead })
    }

    /// `v` (broadcast to rank `r`) does not vary along `axis`.
    private func isConstantAlong(_ v: Value, axis: Int, rank r: Int) -> Bool {
        let s = shape(v), lead = r - s.count
        return axis < lead || s[axis - lead] == 1
    }
}
