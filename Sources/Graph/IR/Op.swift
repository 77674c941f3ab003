import Primitives

/// The closed set of operations a graph may contain. Grouped by kind:
///
/// | kind        | ops |
/// | ----------- | --- |
/// | leaf        | `input`, `parameter`, `constant` |
/// | elementwise | `unary`, `unaryGrad`, `binary` |
/// | reduction   | `reduce`, `softmax` |
/// | layout      | `broadcast`, `reshape`, `permute`, `slice`, `sliceBackward`, `pad`, `concat` |
/// | contraction | `matmul`, `conv2d`, `conv2dBackwardInput`, `conv2dBackwardWeight`, `attention`, `windowAttention` |
/// | window      | `maxPool2d`, `maxPool2dBackward`, `adaptiveAvgPool2d`, `adaptiveAvgPool2dBackward`, `resize`, `resizeBackward` |
///
/// Every op has exactly one result. Shapes that cannot be inferred from the operands
/// (a constant's, a backward op's) are part of the op, so an op plus its operand shapes
/// determines the result shape (see `Op.inferShape`).
public enum Op: Hashable, Sendable {
    // leaf
    case input(name: String, shape: [Int])
    case parameter(name: String, shape: [Int])
    case constant(value: Float, shape: [Int])

    // elementwise
    case unary(UnaryFn)
    /// (x, dy) → dy · f′(x)
    case unaryGrad(UnaryFn)
    case binary(BinaryFn)

    // reduction
    case reduce(ReduceFn, axes: [Int], keepDims: Bool)
    case softmax(axis: Int)
    /// (y, dy) → dx of a softmax whose result is y: y·(dy − Σ dy·y); zero-sum along `axis`
    case softmaxGrad(axis: Int)

    // layout
    case broadcast(shape: [Int])
    case reshape(shape: [Int])
    case permute(perm: [Int])
    /// per-axis start/end/step (every axis listed; end exclusive; positive steps)
    case slice(starts: [Int], ends: [Int], steps: [Int])
    /// dy of a slice scattered into zeros of `inputShape`
    case sliceBackward(starts: [Int], steps: [Int], inputShape: [Int])
    case pad(low: [Int], high: [Int], value: Float)
    case concat(axis: Int)
    /// rows of x (axis 0) picked by constant indices: `x[indices]`
    case gatherRows(indices: [Int])
    /// dy of `gatherRows` summed back into `rows` rows
    case scatterAddRows(indices: [Int], rows: Int)

    // contraction
    /// batched, broadcasting matmul over the last two axes, optionally transposing either operand
    case matmul(transposeA: Bool, transposeB: Bool)
    /// (x, w) → y
    case conv2d(ConvGeometry)
    /// (dy, w) → dx; also conv_transpose2d
    case conv2dBackwardInput(ConvGeometry, inputShape: [Int])
    /// (x, dy) → dw
    case conv2dBackwardWeight(ConvGeometry, weightShape: [Int])
    /// (q, k, v) or (q, k, v, relH, relW) → softmax(scale·q·kᵀ + bias)·v over the last two axes
    /// (equal leading batch dims): q [… N, d], k [… M, d], v [… M, dv], relH [… N, kh],
    /// relW [… N, kw] with kh·kw = M and bias[n, i·kw + j] = relH[n, i] + relW[n, j] (SAM's
    /// decomposed relative positions); or (q, k, v, bias) with a full logit bias [… N, M] whose
    /// batch dims broadcast as a suffix of q's (TinyViT); result [… N, dv]
    case attention(scale: Float)
    /// (qkv [B, H, W, R], padRow [R] (any shape of R floats) [, bias [heads, N, N]]) → [B, H, W,
    /// heads·dv]: attention in window×window windows of the token image (`WindowAttentionSpec`).
    /// The compiler forms it after autodiff (`WindowAttentionFusion`); it has no VJP.
    case windowAttention(WindowAttentionSpec)

    // window
    case maxPool2d(PoolGeometry)
    /// (x, dy) → dx
    case maxPool2dBackward(PoolGeometry)
    case adaptiveAvgPool2d(height: Int, width: Int)
    case adaptiveAvgPool2dBackward(inputShape: [Int])
    case resize(ResizeSpec)
    case resizeBackward(ResizeSpec, inputShape: [Int])

    /// Short name used by printers, errors and the serialiser.
    public var name: String {
        switch self {
        case .input: return "input"
        case .parameter: return "parameter"
        case .constant: return "constant"
        case .unary(let f): return f.name
        case .unaryGrad(let f): return "\(f.name)_grad"
        case .binary(let f): return f.rawValue
        case .reduce(let f, _, _): return "reduce_\(f.rawValue)"
        case .softmax: return "softmax"
        case .softmaxGrad: return "softmax_grad"
        case .broadcast: return "broadcast"
        case .reshape: return "reshape"
        case .permute: return "permute"
        case .slice: return "slice"
        case .sliceBackward: return "slice_backward"
        case .pad: return "pad"
        case .concat: return "concat"
        case .gatherRows: return "gather_rows"
        case .scatterAddRows: return "scatter_add_rows"
        case .matmul: return "matmul"
        case .conv2d: return "conv2d"
        case .conv2dBackwardInput: return "conv2d_backward_input"
        case .conv2dBackwardWeight: return "conv2d_backward_weight"
        case .attention: return "attention"
        case .windowAttention: return "window_attention"
        case .maxPool2d: return "max_pool2d"
        case .maxPool2dBackward: return "max_pool2d_backward"
        case .adaptiveAvgPool2d: return "adaptive_avg_pool2d"
        case .adaptiveAvgPool2dBackward: return "adaptive_avg_pool2d_backward"
        case .resize: return "resize_bilinear"
        case .resizeBackward: return "resize_bilinear_backward"
        }
    }

    /// Number of operands the op takes (nil: variadic).
    public var arity: Int? {
        switch self {
        case .input, .parameter, .constant: return 0
        case .unary, .reduce, .softmax, .broadcast, .reshape, .permute, .slice, .sliceBackward, .pad,
             .maxPool2d, .adaptiveAvgPool2d, .adaptiveAvgPool2dBackward, .resize, .resizeBackward,
             .gatherRows, .scatterAddRows: return 1
        case .unaryGrad, .binary, .softmaxGrad, .matmul, .conv2d, .conv2dBackwardInput, .conv2dBackwardWeight,
             .maxPool2dBackward: return 2
        case .concat, .attention, .windowAttention: return nil
        }
    }

    /// TVM-style pattern kind, used by fusion.
    public enum Kind: Int, Comparable, Sendable {
        case elementwise, broadcast, injective, reduction, outElementwiseFusable, opaque
        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind {
        switch self {
        case .unary, .unaryGrad, .binary, .constant: return .elementwise
        case .broadcast: return .broadcast
        case .reshape, .permute, .slice, .sliceBackward, .pad, .concat, .gatherRows, .scatterAddRows: return .injective
        case .reduce, .softmax, .softmaxGrad: return .reduction
        case .matmul, .conv2d, .conv2dBackwardInput, .conv2dBackwardWeight, .attention: return .outElementwiseFusable
        case .input, .parameter, .windowAttention, .maxPool2d, .maxPool2dBackward, .adaptiveAvgPool2d,
             .adaptiveAvgPool2dBackward, .resize, .resizeBackward: return .opaque
        }
    }
}
