import Kernels
import Primitives
import Runtime

/// Conv-chain fusion (`conv-chain`), on lowered steps.
///
/// Algorithm note. After conv epilogues are folded (`conv-bn-fold`), an inverted-residual block
/// (MBConv: TinyViT's first stage, MobileNetV2/EfficientNet blocks; TinyViT's patch merging with a
/// stride-2 depthwise conv) is three steps
///
///     t₁ = conv1×1(x, w₁)·[e₁]      (C → E)
///     t₂ = conv_dw(t₁, w₂)·[e₂]      (depthwise, E channels, any kernel, stride, padding, dilation)
///     y  = conv1×1(t₂, w₃)·[e₃]      (E → O; e₃ may add a residual)
///
/// A linear scan over the steps finds each such triple where t₁ and t₂ are read by exactly one
/// step (the next conv of the chain) and are not plan outputs — so nothing else, in particular no
/// backward step of a training graph, needs the intermediates — and e₁, e₂ have no residual. The
/// three steps become one `convChain` step at the position of the last, reading x, w₁, w₂, w₃ and
/// the three epilogues' operands; t₁ and t₂ disappear from the plan (`ConvChain` keeps them in
/// per-task row rings instead of two full-size buffers). The fused step sits where the last conv
/// was, so every operand of the three is computed before it. Inference graphs only in practice:
/// training keeps t₁ and t₂ for backward, which the single-reader test sees. O(steps).
enum ConvChainFusion {
    static let name = "conv-chain"

    static func apply(_ steps: [Plan.Step], shapes: [[Int]], outputs: Set<Int>) -> [Plan.Step] {
        var readers = [Int](repeating: 0, count: shapes.count)
        var producer = [Int: Int]()
        for (k, s) in steps.enumerated() {
            for a in Set(s.args) { readers[a] += 1 }
            producer[s.out] = k
        }
        // (geometry, epilogue) of a conv step, plain convs as an empty epilogue
        func conv(_ s: Plan.Step) -> (ConvGeometry, ChannelEpilogue)? {
            switch s.kernel {
            case .conv2d(let g): return (g, ChannelEpilogue(steps: [], activation: nil))
            case .conv2dEpilogue(let g, let e): return (g, e)
            default: return nil
            }
        }
        func pointwise(_ s: Plan.Step, _ g: ConvGeometry) -> Bool {
            let w = shapes[s.args[1]]
            return g == ConvGeometry() && w.count == 4 && w[2] == 1 && w[3] == 1
        }
        func single(_ slot: Int) -> Bool { readers[slot] == 1 && !outputs.contains(slot) }

        var removed = Set<Int>()
        var replacement = [Int: Plan.Step]()
        for (k3, s3) in steps.enumerated() {
            guard let (g3, e3) = conv(s3), pointwise(s3, g3),
                  let k2 = producer[s3.args[0]], single(s3.args[0]), let (g2, e2) = conv(steps[k2]), e2.residual == nil,
                  let k1 = producer[steps[k2].args[0]], single(steps[k2].args[0]), let (g1, e1) = conv(steps[k1]), e1.residual == nil,
                  pointwise(steps[k1], g1), !removed.contains(k1), !removed.contains(k2)
            else { continue }
            let s2 = steps[k2], s1 = steps[k1]
            let t1 = shapes[s1.out], w2 = shapes[s2.args[1]]
            guard g2.groups == t1[1], w2[0] == t1[1], w2[1] == 1 else { continue }
            let ops1 = Array(s1.args.dropFirst(2)), ops2 = Array(s2.args.dropFirst(2)), ops3 = Array(s3.args.dropFirst(2))
            let chain = ConvChain(depthwise: g2, expand: e1, spatial: e2, project: e3,
                                  operandCounts: [ops1.count, ops2.count, ops3.count])
            replacement[k3] = Plan.Step(kernel: .convChain(chain),
                                        args: [s1.args[0], s1.args[1], s2.args[1], s3.args[1]] + ops1 + ops2 + ops3,
                                        out: s3.out, origin: s3.origin)
            removed.formUnion([k1, k2])
        }
        if replacement.isEmpty { return steps }
        return steps.enumerated().compactMap { k, s in removed.contains(k) ? nil : (replacement[k] ?? s) }
    }
}
