import Tensor
import Primitives

extension Graph {
    public func maxPool2d(_ x: Value, kernel: Int, stride: Int, padding: Int = 0) throws -> Value {
        try add(.maxPool2d(PoolGeometry(kernel: kernel, stride: stride, padding: padding)), [x])
    }
    public func adaptiveAvgPool2d(_ x: Value, height: Int, width: Int) throws -> Value {
        try add(.adaptiveAvgPool2d(height: height, width: width), [x])
    }
    /// Bilinear resize of the last two axes (`F.interpolate(mode='bilinear')`).
    public func resize(_ x: Value, height: Int, width: Int, alignCorners: Bool = false, antialias: Bool = false) throws -> Value {
        let s = shape(x)
        if s.suffix(2) == [height, width] && !antialias { return x }
        return try add(.resize(ResizeSpec(height: height, width: width, alignCorners: alignCorners, antialias: antialias)), [x])
    }
    /// `table[indices]` along axis 0.
    public func gatherRows(_ table: Value, _ indices: [Int]) throws -> Value {
        try add(.gatherRows(indices: indices), [table])
    }

    func vjpWindow(_ node: Node, out: Value, dy: Value) throws -> [Value?] {
        let x = node.inputs[0], xs = shape(x)
        switch node.op {
        case .maxPool2d(let p):
            return [try add(.maxPool2dBackward(p), [x, dy])]
        case .maxPool2dBackward:
            throw SamdgError("vjp of max_pool2d_backward", "second-order derivatives are not supported")
        case .adaptiveAvgPool2d:
            return [try add(.adaptiveAvgPool2dBackward(inputShape: xs), [dy])]
        case .adaptiveAvgPool2dBackward:
            return [try add(.adaptiveAvgPool2d(height: xs[2], width: xs[3]), [dy])]
        case .resize(let r):
            return [try add(.resizeBackward(r, inputShape: xs), [dy])]
        case .resizeBackward(let r, _):
            return [try add(.resize(r), [dy])]
        case .gatherRows(let idx):
            return [try add(.scatterAddRows(indices: idx, rows: xs[0]), [dy])]
        case .scatterAddRows(let idx, _):
            return [try add(.gatherRows(indices: idx), [dy])]
        default:
            fatalError("vjpWindow on \(node.op.name)")
        }
    }
}

