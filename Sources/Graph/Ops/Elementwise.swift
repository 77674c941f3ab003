import Tensor
import Primitives

// Leaf and elementwise ops: builders and VJPs.

extension Graph {
    /// A graph input (activation or label) of a fixed shape.
    @discardableResult
    public func input(_ name: String, _ shape: [Int]) -> Value {
        try! add(.input(name: name, shape: shape.map { max($0, 0) }), [])
    }

    /// A parameter (weight) of a fixed shape, bound by name at run time.
    @discardableResult
    public func parameter(_ name: String, _ shape: [Int]) -> Value {
        try! add(.parameter(name: name, shape: shape.map { max($0, 0) }), [])
    }

    /// A tensor filled with `value`.
    public func constant(_ value: Float, _ shape: [Int]) -> Value {
        try! add(.constant(value: value, shape: shape.map { max($0, 0) }), [])
    }

    public func unary(_ f: UnaryFn, _ x: Value) throws -> Value { try add(.unary(f), [x]) }
    public func binary(_ f: BinaryFn, _ a: Value, _ b: Value) throws -> Value { try add(.binary(f), [a, b]) }

    public func relu(_ x: Value) throws -> Value { try unary(.relu, x) }
    public func sigmoid(_ x: Value) throws -> Value { try unary(.sigmoid, x) }
    public func tanh(_ x: Value) throws -> Value { try unary(.tanh, x) }
    public func exp(_ x: Value) throws -> Value { try unary(.exp, x) }
    public func log(_ x: Value) throws -> Value { try unary(.log, x) }
    public func sqrt(_ x: Value) throws -> Value { try unary(.sqrt, x) }
    public func rsqrt(_ x: Value) throws -> Value { try unary(.rsqrt, x) }
    public func neg(_ x: Value) throws -> Value { try unary(.neg, x) }
    public func square(_ x: Value) throws -> Value { try unary(.square, x) }
    public func gelu(_ x: Value, approximateTanh: Bool = false) throws -> Value {
        try unary(approximateTanh ? .geluTanh : .geluErf, x)
    }
    /// x·scale + shift
    public func affine(_ x: Value, scale: Float, shift: Float = 0) throws -> Value {
        try unary(.affine(scale: scale, shift: shift), x)
    }
    public func add(_ a: Value, _ b: Value) throws -> Value { try binary(.add, a, b) }
    public func sub(_ a: Value, _ b: Value) throws -> Value { try binary(.sub, a, b) }
    public func mul(_ a: Value, _ b: Value) throws -> Value { try binary(.mul, a, b) }
    public func div(_ a: Value, _ b: Value) throws -> Value { try binary(.div, a, b) }

    /// Sums `v` down to `target` (the inverse of broadcasting), as a VJP needs.
    public func reduceTo(_ v: Value, _ target: [Int]) throws -> Value {
        let s = shape(v)
        if s == target { return v }
        let lead = s.count - target.count
        var axes: [Int] = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && s[lead + i] != 1 { axes.append(lead + i) }
        // Summing a structurally zero-sum gradient over that axis gives exactly zero.
        if !zeroSumAxes(v).isDisjoint(with: axes) { return constant(0, target) }
        let summed = axes.isEmpty ? v : try add(.reduce(.sum, axes: axes, keepDims: true), [v])
        return shape(summed) == target ? summed : try reshape(summed, target)
    }
}

extension Graph {
    func vjpElementwise(_ node: Node, out: Value, dy: Value, needs: [Bool]) throws -> [Value?] {
        switch node.op {
        case .unary(let f):
            guard f.differentiable else { return [nil] }
            // relu′ from the output (relu(x) > 0 exactly when x > 0): backward then keeps the
            // ReLU's result, which the next layer's weight gradient reads anyway, not its input.
            if f == .relu { return [try add(.unaryGrad(f), [out, dy])] }
            return [try add(.unaryGrad(f), [node.inputs[0], dy])]
        case .binary(let f):
            let a = node.inputs[0], b = node.inputs[1]
            let sa = shape(a), sb = shape(b)
            switch f {
            case .add:
                return [needs[0] ? try reduceTo(dy, sa) : nil, needs[1] ? try reduceTo(dy, sb) : nil]
            case .sub:
                return [needs[0] ? try reduceTo(dy, sa) : nil, needs[1] ? try reduceTo(neg(dy), sb) : nil]
            case .mul:
                return [needs[0] ? try reduceTo(mul(dy, b), sa) : nil, needs[1] ? try reduceTo(mul(dy, a), sb) : nil]
            case .div:
                let da = try div(dy, b)
                return [needs[0] ? try reduceTo(da, sa) : nil,
                        needs[1] ? try reduceTo(neg(mul(da, out)), sb) : nil]
            case .maximum, .minimum:
                let pickA = try binary(.equal, out, a)
                let pickB = try affine(pickA, scale: -1, shift: 1)
                return [needs[0] ? try reduceTo(mul(dy, pickA), sa) : nil,
                        needs[1] ? try reduceTo(mul(dy, pickB), sb) : nil]
            case .equal:
                return [nil, nil]
            }
        case .unaryGrad(let f):
            throw SamdgError("vjp of \(f.name)_grad", "second-order derivatives are not supported")
        default:
            fatalError("vjpElementwise on \(node.op.name)")
        }
    }
}
