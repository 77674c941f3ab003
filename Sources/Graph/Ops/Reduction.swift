import Tensor
import Primitives

extension Graph {
    public func sum(_ x: Value, axes: [Int], keepDims: Bool = false) throws -> Value {
        try add(.reduce(.sum, axes: axes, keepDims: keepDims), [x])
    }
    public func mean(_ x: Value, axes: [Int], keepDims: Bool = false) throws -> Value {
        try add(.reduce(.mean, axes: axes, keepDims: keepDims), [x])
    }
    public func amax(_ x: Value, axes: [Int], keepDims: Bool = false) throws -> Value {
        try add(.reduce(.max, axes: axes, keepDims: keepDims), [x])
    }
    /// Sum of every element, as a scalar.
    public func sumAll(_ x: Value) throws -> Value { try sum(x, axes: Array(0..<shape(x).count)) }
    /// Mean of every element, as a scalar.
    public func meanAll(_ x: Value) throws -> Value { try mean(x, axes: Array(0..<shape(x).count)) }
    public func softmax(_ x: Value, axis: Int = -1) throws -> Value { try add(.softmax(axis: axis), [x]) }

    func vjpReduction(_ node: Node, out: Value, dy: Value) throws -> [Value?] {
        let x = node.inputs[0], xs = shape(x)
        switch node.op {
        case .reduce(let f, let axes, let keep):
            let norm = axes.map { ShapeMath.axis($0, rank: xs.count)! }
            let keptShape = xs.enumerated().map { norm.contains($0.offset) ? 1 : $0.element }
            let dyk = keep ? dy : try reshape(dy, keptShape)
            switch f {
            case .sum:
                return [try broadcast(dyk, xs)]
            case .mean:
                let n = norm.reduce(1) { $0 * xs[$1] }
                return [try broadcast(affine(dyk, scale: 1 / Float(n)), xs)]
            case .max:
                // PyTorch amax: the gradient is shared evenly among tied maxima.
                let outk = keep ? out : try reshape(out, keptShape)
                let mask = try binary(.equal, x, broadcast(outk, xs))
                let ties = try sum(mask, axes: norm, keepDims: true)
                return [try mul(mask, broadcast(div(dyk, ties), xs))]
            }
        case .softmax(let axis):
            return [try add(.softmaxGrad(axis: axis), [out, dy])]
        case .softmaxGrad:
            throw SamdgError("vjp of softmax_grad", "second-order derivatives are not supported")
        default:
            fatalError("vjpReduction on \(node.op.name)")
        }
    }
}
