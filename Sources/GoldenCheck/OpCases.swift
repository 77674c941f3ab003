import Foundation
import Graph
import Primitives
import Tensor
import Train

/// Evaluates `ops`-group cases: builds the op as a graph over the case's inputs, runs it with
/// gradients of Σ output·cotangent, and compares outputs and gradients; cases with gradients
/// also compare the outputs of a forward-only (inference) plan.
enum OpCases {
    static let unaryOps: [String: UnaryFn] = [
        "gelu_erf": .geluErf, "gelu_tanh": .geluTanh, "relu": .relu, "sigmoid": .sigmoid, "tanh": .tanh,
        "exp": .exp, "log": .log, "sqrt": .sqrt, "rsqrt": .rsqrt, "sin": .sin, "cos": .cos,
        "hardswish": .hardswish, "neg": .neg, "abs": .abs, "square": .square, "softplus": .softplus,
    ]
    static let binaryOps: [String: BinaryFn] = ["add": .add, "sub": .sub, "mul": .mul, "div": .div,
                                                "maximum": .maximum, "minimum": .minimum]

    static func evaluate(_ c: GoldenCase) throws -> [Comparison]? {
        if c.op == "optimizer" { return try optimizer(c) }
        let tensors = try c.loadInputs()
        let g = Graph()
        var v: [String: Value] = [:]
        for (n, _) in c.inputs { v[n] = g.input(n, tensors[n]!.shape) }
        func x(_ n: String) throws -> Value {
            guard let val = v[n] else { throw SamdgError("case \(c.name)", "input \"\(n)\" missing") }
            return val
        }
        let outs: [String: Value]
        switch c.op {
        case "linear": outs = ["y": try g.linear(x("x"), x("weight"), v["bias"])]
        case "matmul": outs = ["y": try g.matmul(x("a"), x("b"))]
        case "conv2d":
            let geo = ConvGeometry(stride: try c.int("stride", default: 1), padding: try c.int("padding", default: 0),
                                   dilation: try c.int("dilation", default: 1), groups: try c.int("groups", default: 1))
            outs = ["y": try g.conv2d(x("x"), x("weight"), v["bias"], geo)]
        case "conv_transpose2d":
            guard try c.int("output_padding", default: 0) == 0 else { return nil }
            outs = ["y": try g.convTranspose2d(x("x"), x("weight"), v["bias"], stride: try c.int("stride", default: 1),
                                               padding: try c.int("padding", default: 0), dilation: try c.int("dilation", default: 1),
                                               groups: try c.int("groups", default: 1))]
        case "batch_norm":
            let eps = try c.float("eps", default: 1e-5)
            if c.bool("training", default: false) {
                let r = try g.batchNormTrain(x("x"), weight: v["weight"], bias: v["bias"], runningMean: x("running_mean"),
                                             runningVar: x("running_var"), momentum: try c.float("momentum", default: 0.1), eps: eps)
                outs = ["y": r.y, "running_mean": r.runningMean, "running_var": r.runningVar]
            } else {
                outs = ["y": try g.batchNormEval(x("x"), weight: v["weight"], bias: v["bias"], runningMean: x("running_mean"),
                                                 runningVar: x("running_var"), eps: eps)]
            }
        case "layer_norm":
            // normalized_shape = weight's shape: flatten those trailing axes into one.
            let xs = g.shape(try x("x")), k = tensors["weight"]?.rank ?? 1
            let flat = try g.reshape(x("x"), Array(xs.dropLast(k)) + [-1])
            let w = try v["weight"].map { try g.reshape($0, [-1]) }, b = try v["bias"].map { try g.reshape($0, [-1]) }
            outs = ["y": try g.reshape(g.layerNorm(flat, weight: w, bias: b, eps: try c.float("eps", default: 1e-5)), xs)]
        case "layer_norm2d":
            outs = ["y": try g.layerNorm2d(x("x"), weight: v["weight"], bias: v["bias"], eps: try c.float("eps", default: 1e-6))]
        case "softmax": outs = ["y": try g.softmax(x("x"), axis: try c.int("dim", default: -1))]
        case "sum", "mean", "amax":
            let dims = try c.ints("dim"), keep = c.bool("keepdim", default: false)
            let f: ReduceFn = c.op == "sum" ? .sum : (c.op == "mean" ? .mean : .max)
            outs = ["y": try g.add(.reduce(f, axes: dims, keepDims: keep), [x("x")])]
        case "max_pool2d":
            let k = try c.int("kernel")
            outs = ["y": try g.maxPool2d(x("x"), kernel: k, stride: try c.int("stride", default: k), padding: try c.int("padding", default: 0))]
        case "adaptive_avg_pool2d":
            let s = try c.ints("output_size")
            outs = ["y": try g.adaptiveAvgPool2d(x("x"), height: s[0], width: s.count > 1 ? s[1] : s[0])]
        case "interpolate_bilinear":
            let s = try c.ints("size")
            outs = ["y": try g.add(.resize(ResizeSpec(height: s[0], width: s[1], alignCorners: c.bool("align_corners", default: false),
                                                      antialias: c.bool("antialias", default: false))), [x("x")])]
        case "pad":
            // torch order: (last_lo, last_hi, prev_lo, prev_hi, …)
            let p = try c.ints("pad"), r = g.shape(try x("x")).count
            var lo = [Int](repeating: 0, count: r), hi = lo
            for i in 0..<(p.count / 2) { lo[r - 1 - i] = p[2 * i]; hi[r - 1 - i] = p[2 * i + 1] }
            outs = ["y": try g.pad(x("x"), low: lo, high: hi, value: try c.float("value", default: 0))]
        case "concat":
            let names = c.inputs.map(\.name)  // sorted: a, b, …
            outs = ["y": try g.concat(names.map { v[$0]! }, axis: try c.int("dim"))]
        case "permute": outs = ["y": try g.permute(x("x"), try c.ints("dims"))]
        case "slice":
            outs = ["y": try g.slice(x("x"), dims: try c.ints("dims"), starts: try c.ints("starts"),
                                     ends: try c.ints("ends"), steps: try c.ints("steps"))]
        case "window_partition":
            outs = ["y": try g.windowPartition(x("x"), window: try c.int("window")).windows]
        case "window_unpartition":
            let ws = try c.int("window"), s = g.shape(try x("x"))
            let (w, padded) = try g.windowPartition(x("x"), window: ws)
            outs = ["y": try g.windowUnpartition(w, window: ws, padded: padded, original: (s[1], s[2]))]
        case "composite":
            guard c.name.hasPrefix("vit_attention") || c.torch.contains("Attention") else { return nil }
            outs = ["y": try g.samAttention(x("x"), heads: try c.int("num_heads"), qkvWeight: x("qkv_w"), qkvBias: v["qkv_b"],
                                            projWeight: x("proj_w"), projBias: v["proj_b"], relPosH: v["rel_pos_h"], relPosW: v["rel_pos_w"])]
        case "loss_dicece": outs = ["y": try g.diceCELoss(x("logits"), x("target"))]
        case "loss_stage1": outs = ["y": try g.stage1Loss(x("logits"), x("target"))]
        default:
            if let f = unaryOps[c.op] { outs = ["y": try g.unary(f, x("x"))] }
            else if let f = binaryOps[c.op] { outs = ["y": try g.binary(f, x("a"), x("b"))] }
            else { return nil }
        }
        for (n, val) in outs { g.output(n, val) }
        // With gradients the forward's intermediates feed the backward, so the compiler keeps
        // them; an inference plan of the same graph (compiled before the gradients are added)
        // takes the fused paths instead (e.g. attention fusion), and must match the same outputs.
        let inference = c.grads.isEmpty ? nil : try Session(g)
        var cts: [String: String] = [:]
        var bindings = tensors
        for (o, p) in c.cotangents {
            cts[o] = "ct.\(o)"
            bindings["ct.\(o)"] = try c.load(p)
        }
        let session = try Session(g, cotangents: cts, wrt: c.grads.map(\.name))
        let result = try session.run(bindings)
        var comps: [Comparison] = []
        for (o, p) in c.outputs {
            guard let got = result[o] else { comps.append(Comparison("output \(o) not produced", error: .infinity, tolerance: c.tol)); continue }
            comps.append(compare(o, got, try c.load(p), tol: c.tol))
        }
        for (n, p) in c.grads {
            comps.append(compare("grad.\(n)", result["grad.\(n)"]!, try c.load(p), tol: c.gradTol))
        }
        if let inference {
            let forward = try inference.run(bindings)
            for (o, p) in c.outputs {
                guard let got = forward[o] else { continue }
                comps.append(compare("\(o) (inference plan)", got, try c.load(p), tol: c.tol))
            }
        }
        return comps
    }

    /// `adam_wd` / `adamw_wd`: apply the listed gradients in turn and compare after each step.
    static func optimizer(_ c: GoldenCase) throws -> [Comparison] {
        guard let grads = c.raw["step_grads"] as? [String], let after = c.raw["params_after_step"] as? [String] else {
            throw SamdgError("case \(c.name)", "optimizer case needs step_grads and params_after_step")
        }
        let decoupled = c.name.lowercased().contains("adamw") || c.torch.contains("AdamW")
        let opt = Adam(lr: try c.float("lr"), beta1: try c.float("beta1", default: 0.9), beta2: try c.float("beta2", default: 0.999),
                       eps: try c.float("eps", default: 1e-8), weightDecay: try c.float("weight_decay", default: 0), decoupled: decoupled)
        let p = try c.loadInputs()["param"]!.toFloat32().copy()
        var comps: [Comparison] = []
        for (i, gp) in grads.enumerated() {
            try opt.step([("param", p)], [try c.load(gp).toFloat32()])
            comps.append(compare("step \(i)", p, try c.load(after[i]), tol: c.tol))
        }
        return comps
    }
}
