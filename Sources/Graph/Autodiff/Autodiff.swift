import Tensor

/// Reverse-mode automatic differentiation as a Graph → Graph transform.
///
/// Algorithm:
/// 1. Mark *active* nodes: those that depend on a value in `wrt` (forward sweep in node order).
///    Frozen parameters are simply not in `wrt`, so nothing is built for them.
/// 2. Walk nodes from last to first. A node that is active and has a cotangent calls its op's
///    VJP rule (which sits next to the op's builder, in `Ops/`), asking only for the operands
///    that are active. Contributions to one value from several consumers (fan-out) are summed.
/// 3. Return the accumulated cotangent of each `wrt` value (nil when the seeds do not depend on it).
///
/// ```
///   x ──► conv ──► relu ──► y        seeds: y ← dy
///   w ──┘                            dy ─► relu_grad(x1, dy) ─► conv2d_backward_input ─► dx
///                                                         └───► conv2d_backward_weight ─► dw
/// ```
public enum Autodiff {
    /// Appends the backward graph to `graph` and returns d(Σ seedᵢ·cotangentᵢ)/d(wrtⱼ) per `wrt`.
    public static func gradients(_ graph: Graph, seeds: [(value: Value, cotangent: Value)], wrt: [Value]) throws -> [Value?] {
        let forwardCount = graph.nodes.count
        var active = [Bool](repeating: false, count: forwardCount)
        for v in wrt { active[v.id] = true }
        for i in 0..<forwardCount where !active[i] {
            if graph.nodes[i].inputs.contains(where: { active[$0.id] }) { active[i] = true }
        }
        var cot: [Int: Value] = [:]
        func accumulate(_ v: Value, _ g: Value) throws {
            if let prev = cot[v.id] { cot[v.id] = try graph.add(prev, g) } else { cot[v.id] = g }
        }
        for (v, c) in seeds {
            guard graph.shape(v) == graph.shape(c) else {
                throw SamdgError("gradients", "cotangent shape \(ShapeMath.describe(graph.shape(c))) differs from \(v)'s \(ShapeMath.describe(graph.shape(v)))")
            }
            try accumulate(v, c)
        }
        for i in stride(from: forwardCount - 1, through: 0, by: -1) {
            guard active[i], let dy = cot[i] else { continue }
            let node = graph.nodes[i]
            if node.inputs.isEmpty { continue }
            let needs = node.inputs.map { active[$0.id] }
            if !needs.contains(true) { continue }
            let saved = graph.currentLabel
            graph.currentLabel = node.label.map { "∇" + $0 }
            defer { graph.currentLabel = saved }
            let grads = try graph.vjp(node, out: Value(i), dy: dy, needs: needs)
            for (k, g) in grads.enumerated() where needs[k] {
                if let g { try accumulate(node.inputs[k], g) }
            }
        }
        return wrt.map { cot[$0.id] }
    }
}

extension Graph {
    /// Dispatches to the VJP rule of the node's op family.
    func vjp(_ node: Node, out: Value, dy: Value, needs: [Bool]) throws -> [Value?] {
        switch node.op {
        case .input, .parameter, .constant:
            return []
        case .unary, .unaryGrad, .binary:
            return try vjpElementwise(node, out: out, dy: dy, needs: needs)
        case .reduce, .softmax, .softmaxGrad:
            return try vjpReduction(node, out: out, dy: dy)
        case .broadcast, .reshape, .permute, .slice, .sliceBackward, .pad, .concat:
            return try vjpLayout(node, out: out, dy: dy, needs: needs)
        case .matmul, .conv2d, .conv2dBackwardInput, .conv2dBackwardWeight:
            return try vjpContraction(node, out: out, dy: dy, needs: needs)
        case .attention:
            return try vjpAttention(node, out: out, dy: dy, needs: needs)
        case .windowAttention:
            throw SamdgError("autodiff", "window_attention has no VJP: the compiler forms it after autodiff, from ops that have one")
        case .maxPool2d, .maxPool2dBackward, .adaptiveAvgPool2d, .adaptiveAvgPool2dBackward,
             .resize, .resizeBackward, .gatherRows, .scatterAddRows:
            return try vjpWindow(node, out: out, dy: dy)
        }
    }
}
