import Primitives
import Tensor

/// What one plan step runs: a kernel id plus its constant parameters. Operand and result shapes
/// come from the bound tensors. This enum and `Plan` are the whole contract between the compiler
/// and the runtime.
public enum Kernel: Hashable, Sendable, CustomStringConvertible {
    case fill(Float)
    case unary(UnaryFn)
    case unaryGrad(UnaryFn)
    case binary(BinaryFn)
    case reduce(ReduceFn, axes: [Int])
    case softmax(axis: Int)
    case softmaxGrad(axis: Int)
    /// a view of the operand with the result's shape (no data moves)
    case reshape
    case broadcast
    case permute([Int])
    case slice(starts: [Int], steps: [Int])
    case sliceBackward(starts: [Int], steps: [Int])
    case pad(low: [Int], high: [Int], value: Float)
    case concat(axis: Int)
    case gatherRows([Int])
    case scatterAddRows([Int])
    case matmul(transposeA: Bool, transposeB: Bool)
    /// matmul reading A and/or B through a permute (and batch broadcast) of its argument, and/or
    /// writing the result permuted (`GemmView`): the layout ops around attention heads, no copies
    case matmulView(transposeA: Bool, transposeB: Bool, a: GemmView?, b: GemmView?, y: GemmView?)
    /// addend + op(A)·op(B): args A, B, then the addend program's operands. The result is filled
    /// with the addend (broadcast), then the GEMM accumulates into it (beta = 1), so the add
    /// replaces the zeroing pass of a plain GEMM instead of taking a pass of its own.
    /// With an `activation` (an MLP's GELU), it runs in place over the result right after the GEMM.
    case matmulAccumulate(transposeA: Bool, transposeB: Bool, addend: FusedProgram, activation: UnaryFn? = nil)
    case conv2d(ConvGeometry)
    /// conv2d then a per-output-channel epilogue (folded BatchNorm / bias, a skip connection, an
    /// activation); args x, w, then the epilogue's operands
    case conv2dEpilogue(ConvGeometry, ChannelEpilogue)
    /// depthwise conv2d on channels-last tokens [B, H·W, C] → [B, OH·OW, C] (the NCHW conv between
    /// two transposes), then the epilogue; args x, w, then the epilogue's operands
    case depthwiseTokens(ConvGeometry, height: Int, width: Int, ChannelEpilogue)
    /// 1×1 conv → depthwise conv → 1×1 conv, each with its epilogue, in row strips (`ConvChain`);
    /// args x, w₁, w₂, w₃, then the three epilogues' operands
    case convChain(ConvChain)
    case conv2dBackwardInput(ConvGeometry)
    case conv2dBackwardWeight(ConvGeometry)
    /// softmax(scale·q·kᵀ + bias)·v in query tiles; args q, k, v (, bias | relH, relW)
    case attention(scale: Float)
    /// attention on strided operands read in place (q, k, v out of one qkv projection) with the
    /// result written in the spec's layout; args q, k, v source tensors (, relH table, relW
    /// table when `relGrid` is set)
    case attentionStrided(AttentionSpec)
    /// attention in windows of a token image, pad tokens as one given row (`WindowAttentionSpec`);
    /// args qkv, pad row (, bias)
    case windowAttention(WindowAttentionSpec)
    case maxPool2d(PoolGeometry)
    case maxPool2dBackward(PoolGeometry)
    case adaptiveAvgPool2d
    case adaptiveAvgPool2dBackward
    case resize(ResizeSpec)
    case resizeBackward(ResizeSpec)
    /// a chain of elementwise ops evaluated in one pass
    case fused(FusedProgram)
    /// layer norm along `axis`: args x (, weight) (, bias) as the flags say
    case layerNorm(axis: Int, eps: Float, weight: Bool, bias: Bool)
    /// reduce_sum / reduce_mean over `axes` of a fused elementwise program evaluated over
    /// `shape`, without writing the program's result (`FusedReduceKernel`)
    case fusedReduce(FusedProgram, ReduceFn, axes: [Int], shape: [Int])

    public var description: String {
        switch self {
        case .fill(let v): return "fill(\(v))"
        case .unary(let f): return f.name
        case .unaryGrad(let f): return "\(f.name)_grad"
        case .binary(let f): return f.rawValue
        case .reduce(let f, let a): return "reduce_\(f.rawValue)\(a)"
        case .softmax(let a): return "softmax(\(a))"
        case .softmaxGrad(let a): return "softmax_grad(\(a))"
        case .reshape: return "reshape"
        case .broadcast: return "broadcast"
        case .permute(let p): return "permute\(p)"
        case .slice: return "slice"
        case .sliceBackward: return "slice_backward"
        case .pad: return "pad"
        case .concat(let a): return "concat(\(a))"
        case .gatherRows: return "gather_rows"
        case .scatterAddRows: return "scatter_add_rows"
        case .matmul(let a, let b): return "matmul\(a ? "ᵀ" : "")\(b ? "·ᵀ" : "")"
        case .matmulView(let ta, let tb, let va, let vb, let vy):
            let views = [("A", va), ("B", vb), ("Y", vy)].compactMap { n, v in v.map { "\(n)\($0)" } }.joined(separator: ",")
            return "matmul\(ta ? "ᵀ" : "")\(tb ? "·ᵀ" : "") via \(views)"
        case .matmulAccumulate(let a, let b, let p, let f):
            let terms = p.instrs.filter { if case .load = $0 { return true }; return false }.count
            return "matmul\(a ? "ᵀ" : "")\(b ? "·ᵀ" : "") + \(terms) term\(terms == 1 ? "" : "s")\(f.map { " → " + $0.name } ?? "")"
        case .conv2d(let g): return "conv2d(\(g))"
        case .conv2dEpilogue(let g, let e): return "conv2d(\(g))·[\(e)]"
        case .depthwiseTokens(let g, let h, let w, let e): return "depthwise_tokens(\(h)x\(w) \(g))·[\(e)]"
        case .convChain(let c): return c.description
        case .conv2dBackwardInput(let g): return "conv2d_backward_input(\(g))"
        case .conv2dBackwardWeight(let g): return "conv2d_backward_weight(\(g))"
        case .attention(let scale): return "attention(scale \(scale))"
        case .attentionStrided(let spec): return "attention_strided(\(spec))"
        case .windowAttention(let w): return "window_attention(\(w))"
        case .maxPool2d: return "max_pool2d"
        case .maxPool2dBackward: return "max_pool2d_backward"
        case .adaptiveAvgPool2d: return "adaptive_avg_pool2d"
        case .adaptiveAvgPool2dBackward: return "adaptive_avg_pool2d_backward"
        case .resize: return "resize"
        case .resizeBackward: return "resize_backward"
        case .fused(let p): return "fused[\(p)]"
        case .layerNorm(let a, let eps, _, _): return "layer_norm(axis \(a), eps \(eps))"
        case .fusedReduce(let p, let f, let a, _): return "fused[\(p)]·reduce_\(f.rawValue)\(a)"
        }
    }

    /// Executes the kernel: reads `args`, writes `out` (already allocated with the result shape).
    public func run(_ args: [Tensor], _ out: Tensor) {
        switch self {
        case .fill(let v): out.ptr.update(repeating: v, count: out.count)
        case .unary(let f): UnaryKernels.apply(f, args[0].ptr, out.ptr, count: out.count)
        case .unaryGrad(let f): UnaryKernels.gradient(f, x: args[0].ptr, dy: args[1].ptr, dx: out.ptr, count: out.count)
        case .binary(let f): BinaryKernels.apply(f, args[0], args[1], out)
        case .reduce(let f, let axes): ReduceKernels.apply(f, axes: axes, args[0], out)
        case .softmax(let a): SoftmaxKernel.apply(axis: a, args[0], out)
        case .softmaxGrad(let a): SoftmaxKernel.backward(axis: a, y: args[0], dy: args[1], out)
        case .reshape: out.ptr.update(from: args[0].ptr, count: out.count)
        case .broadcast: LayoutKernels.broadcast(args[0], out)
        case .permute(let p): LayoutKernels.permute(args[0], p, out)
        case .slice(let st, let sp): LayoutKernels.slice(args[0], starts: st, steps: sp, out)
        case .sliceBackward(let st, let sp): LayoutKernels.sliceBackward(args[0], starts: st, steps: sp, out)
        case .pad(let lo, let hi, let v): LayoutKernels.pad(args[0], low: lo, high: hi, value: v, out)
        case .concat(let a): LayoutKernels.concat(args, axis: a, out)
        case .gatherRows(let i): LayoutKernels.gatherRows(args[0], i, out)
        case .scatterAddRows(let i): LayoutKernels.scatterAddRows(args[0], i, out)
        case .matmul(let ta, let tb): Gemm.matmul(args[0], args[1], transA: ta, transB: tb, out)
        case .matmulView(let ta, let tb, let va, let vb, let vy): Gemm.matmul(args[0], va, args[1], vb, transA: ta, transB: tb, out, vy)
        case .matmulAccumulate(let ta, let tb, let p, let f):
            if Gemm.linear(args[0], args[1], transA: ta, transB: tb, out, addend: p, operands: Array(args.dropFirst(2)), activation: f) {
                break
            }
            FusedKernel.run(p, Array(args.dropFirst(2)), out)
            let applied = Gemm.matmul(args[0], args[1], transA: ta, transB: tb, out, accumulate: true, activation: f)
            if let f, !applied { UnaryKernels.apply(f, out.ptr, out.ptr, count: out.count) }
        case .conv2d(let g): ConvKernels.forward(args[0], args[1], g, out)
        case .conv2dEpilogue(let g, let e): ConvKernels.forward(args[0], args[1], g, out, epilogue: e, operands: Array(args.dropFirst(2)))
        case .convChain(let c): c.forward(args, out)
        case .depthwiseTokens(let g, let h, let w, let e):
            DepthwiseTokens.forward(args[0], args[1], g, height: h, width: w, out, epilogue: e, operands: Array(args.dropFirst(2)))
        case .conv2dBackwardInput(let g): ConvKernels.backwardInput(args[0], args[1], g, out)
        case .conv2dBackwardWeight(let g): ConvKernels.backwardWeight(args[0], args[1], g, out)
        case .layerNorm(let axis, let eps, let w, let b):
            LayerNormKernel.apply(axis: axis, eps: eps, args[0], weight: w ? args[1] : nil, bias: b ? args[w ? 2 : 1] : nil, out)
        case .attention(let scale):
            AttentionKernel.forward(q: args[0], k: args[1], v: args[2], relH: args.count == 5 ? args[3] : nil,
                                    relW: args.count == 5 ? args[4] : nil, bias: args.count == 4 ? args[3] : nil, scale: scale, out)
        case .attentionStrided(let spec):
            AttentionKernel.forward(spec, q: args[0], k: args[1], v: args[2], relH: args.count == 5 ? args[3] : nil,
                                    relW: args.count == 5 ? args[4] : nil, bias: args.count == 4 ? args[3] : nil, out)
        case .windowAttention(let w):
            AttentionKernel.windowForward(w, qkv: args[0], padRow: args[1], bias: args.count == 3 ? args[2] : nil, out)
        case .maxPool2d(let p): PoolKernels.maxPool(args[0], p, out)
        case .maxPool2dBackward(let p): PoolKernels.maxPoolBackward(args[0], args[1], p, out)
        case .adaptiveAvgPool2d: PoolKernels.adaptiveAvg(args[0], out)
        case .adaptiveAvgPool2dBackward: PoolKernels.adaptiveAvgBackward(args[0], out)
        case .resize(let r): ResizeKernels.forward(args[0], r, out)
        case .resizeBackward(let r): ResizeKernels.backward(args[0], r, out)
        case .fused(let p): FusedKernel.run(p, args, out)
        case .fusedReduce(let p, let f, let a, let shape): FusedReduceKernel.run(p, f, axes: a, shape: shape, args, out)
        }
    }
}
