import Tensor
import Primitives

extension Graph {
    public func broadcast(_ x: Value, _ shape: [Int]) throws -> Value {
        self.shape(x) == shape ? x : try add(.broadcast(shape: shape), [x])
    }
    /// Reshape; one dimension may be -1 and is inferred.
    public func reshape(_ x: Value, _ shape: [Int]) throws -> Value {
        var s = shape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            s[i] = known == 0 ? 0 : ShapeMath.count(self.shape(x)) / known
        }
        return self.shape(x) == s ? x : try add(.reshape(shape: s), [x])
    }
    public func permute(_ x: Value, _ perm: [Int]) throws -> Value {
        perm == Array(0..<perm.count) ? x : try add(.permute(perm: perm), [x])
    }
    /// Swaps the last two axes.
    public func transposeLast(_ x: Value) throws -> Value {
        let r = shape(x).count
        var p = Array(0..<r); p.swapAt(r - 1, r - 2)
        return try permute(x, p)
    }
    /// PyTorch-style slicing of some axes: `x[:, 1:5:2, :, 2:]` is
    /// `slice(x, dims: [1, 3], starts: [1, 2], ends: [5, 6], steps: [2, 1])`. Ends clamp to the axis.
    public func slice(_ x: Value, dims: [Int], starts: [Int], ends: [Int], steps: [Int]? = nil) throws -> Value {
        let s = shape(x)
        var st = [Int](repeating: 0, count: s.count), en = s, sp = [Int](repeating: 1, count: s.count)
        for (k, d0) in dims.enumerated() {
            guard let d = ShapeMath.axis(d0, rank: s.count) else {
                throw SamdgError("slice", "axis \(d0) out of range for shape \(ShapeMath.describe(s))")
            }
            func clampIndex(_ i: Int) -> Int { min(max(i < 0 ? i + s[d] : i, 0), s[d]) }
            st[d] = clampIndex(starts[k]); en[d] = max(clampIndex(ends[k]), st[d]); sp[d] = steps?[k] ?? 1
        }
        return try add(.slice(starts: st, ends: en, steps: sp), [x])
    }
    /// Constant padding; `low`/`high` per axis.
    public func pad(_ x: Value, low: [Int], high: [Int], value: Float = 0) throws -> Value {
        if low.allSatisfy({ $0 == 0 }) && high.allSatisfy({ $0 == 0 }) { return x }
        return try add(.pad(low: low, high: high, value: value), [x])
    }
    public func concat(_ xs: [Value], axis: Int) throws -> Value {
        xs.count == 1 ? xs[0] : try add(.concat(axis: axis), xs)
    }

    func vjpLayout(_ node: Node, out: Value, dy: Value, needs: [Bool]) throws -> [Value?] {
        let xs = node.inputs.map { shape($0) }
        switch node.op {
        case .broadcast:
            return [try reduceTo(dy, xs[0])]
        case .reshape:
            return [try reshape(dy, xs[0])]
        case .permute(let perm):
            var inv = [Int](repeating: 0, count: perm.count)
            for (i, p) in perm.enumerated() { inv[p] = i }
            return [try permute(dy, inv)]
        case .slice(let starts, _, let steps):
            return [try add(.sliceBackward(starts: starts, steps: steps, inputShape: xs[0]), [dy])]
        case .sliceBackward(let starts, let steps, _):
            let ends = (0..<starts.count).map { starts[$0] + (xs[0][$0] - 1) * steps[$0] + 1 }
            return [try add(.slice(starts: starts, ends: ends, steps: steps), [dy])]
        case .pad(let low, _, _):
            guard low.allSatisfy({ $0 >= 0 }) else {
                throw SamdgError("vjp of pad", "negative padding has no gradient rule")
            }
            let starts = low
            let ends = (0..<low.count).map { low[$0] + xs[0][$0] }
            return [try add(.slice(starts: starts, ends: ends, steps: low.map { _ in 1 }), [dy])]
        case .concat(let axis):
            let a = ShapeMath.axis(axis, rank: xs[0].count)!
            var offset = 0
            var grads: [Value?] = []
            for (i, s) in xs.enumerated() {
                if needs[i] {
                    grads.append(try slice(dy, dims: [a], starts: [offset], ends: [offset + s[a]]))
                } else { grads.append(nil) }
                offset += s[a]
            }
            return grads
        default:
            fatalError("vjpLayout on \(node.op.name)")
        }
    }
}
