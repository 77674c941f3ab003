import XCTest
import Graph
import Primitives

/// Graphs built with the public DSL, composites and autodiff, which together use every `Op`
/// case (checked by `RoundTripTests.testFixturesCoverEveryOp`).
enum Fixtures {
    /// conv(+bias) → batch norm (train) → relu → max pool → dilated depthwise conv → gelu →
    /// layer norm 2d → bilinear upsample → 1×1 conv → stage-1 loss, plus an adaptive-pool
    /// auxiliary loss; with `gradients`, the backward graph for every parameter is appended.
    static func convNet(gradients: Bool) throws -> Graph {
        let g = Graph()
        g.currentLabel = "stem"
        let x = g.input("x", [2, 3, 16, 16])
        let target = g.input("target", [2, 1, 16, 16])
        let w1 = g.parameter("stem.conv.weight", [8, 3, 3, 3]), b1 = g.parameter("stem.conv.bias", [8])
        let gamma = g.parameter("stem.bn.weight", [8]), beta = g.parameter("stem.bn.bias", [8])
        let rm = g.input("stem.bn.running_mean", [8]), rv = g.input("stem.bn.running_var", [8])
        var h = try g.conv2d(x, w1, b1, ConvGeometry(padding: 1))
        let bn = try g.batchNormTrain(h, weight: gamma, bias: beta, runningMean: rm, runningVar: rv)
        h = try g.relu(bn.y)
        g.currentLabel = "down"
        h = try g.maxPool2d(h, kernel: 3, stride: 2, padding: 1)                       // [2, 8, 8, 8]
        let wd = g.parameter("down.dw.weight", [8, 1, 3, 3])
        h = try g.conv2d(h, wd, nil, ConvGeometry(strideH: 1, strideW: 1, padH: 2, padW: 2,
                                                  dilationH: 2, dilationW: 2, groups: 8))
        h = try g.gelu(h, approximateTanh: true)
        let lw = g.parameter("down.norm.weight", [8]), lb = g.parameter("down.norm.bias", [8])
        h = try g.layerNorm2d(h, weight: lw, bias: lb)
        g.currentLabel = "head"
        let up = try g.resize(h, height: 16, width: 16)                               // [2, 8, 16, 16]
        let wo = g.parameter("head.conv.weight", [1, 8, 1, 1])
        let logits = try g.conv2d(up, wo)
        let pooled = try g.adaptiveAvgPool2d(h, height: 3, width: 3)
        let aux = try g.meanAll(g.square(pooled))
        let loss = try g.add(g.stage1Loss(logits, target), g.affine(aux, scale: 0.1))
        g.currentLabel = nil
        g.output("loss", loss)
        g.output("logits", logits)
        g.output("running_mean", bn.runningMean)
        g.output("running_var", bn.runningVar)
        if gradients { try appendGradients(g, loss: loss, wrt: g.parameters.map(\.value)) }
        return g
    }

    /// segment-anything windowed attention with decomposed relative positions (one table at
    /// the wrong length, so it is resized), and its gradients.
    static func attention(gradients: Bool) throws -> Graph {
        let g = Graph()
        g.currentLabel = "blocks.0.attn"
        let x = g.input("x", [1, 6, 6, 8])
        let (windows, padded) = try g.windowPartition(x, window: 4)
        let qkvW = g.parameter("blocks.0.attn.qkv.weight", [24, 8]), qkvB = g.parameter("blocks.0.attn.qkv.bias", [24])
        let projW = g.parameter("blocks.0.attn.proj.weight", [8, 8]), projB = g.parameter("blocks.0.attn.proj.bias", [8])
        let relH = g.parameter("blocks.0.attn.rel_pos_h", [5, 4]), relW = g.parameter("blocks.0.attn.rel_pos_w", [7, 4])
        let a = try g.samAttention(windows, heads: 2, qkvWeight: qkvW, qkvBias: qkvB, projWeight: projW,
                                   projBias: projB, relPosH: relH, relPosW: relW)
        let y = try g.windowUnpartition(a, window: 4, padded: padded, original: (6, 6))
        let loss = try g.meanAll(g.square(y))
        g.currentLabel = nil
        g.output("y", y)
        g.output("loss", loss)
        if gradients { try appendGradients(g, loss: loss, wrt: [x] + g.parameters.map(\.value)) }
        return g
    }

    /// Every unary, binary and reduce function, layout ops with unusual attributes, the
    /// transposed/backward contractions, special float constants, scalars, empty tensors and
    /// odd labels and output names.
    static func opZoo() throws -> Graph {
        let g = Graph()
        g.currentLabel = "zoo/ünïcode ∇"
        let x = g.input("x", [3, 4])
        var outs: [Value] = []
        let unaries: [UnaryFn] = [.neg, .abs, .relu, .sigmoid, .tanh, .exp, .log, .sqrt, .rsqrt, .sin, .cos,
                                  .geluErf, .geluTanh, .hardswish, .square, .reciprocal, .softplus,
                                  .affine(scale: .pi, shift: -0.0), .clamp(lo: -100, hi: .infinity), .step]
        for f in unaries { outs.append(try g.unary(f, x)) }
        let dy = g.input("dy", [3, 4])
        for f in unaries where f.differentiable { outs.append(try g.add(.unaryGrad(f), [x, dy])) }
        g.currentLabel = ""
        let row = g.parameter("row", [4])
        for f in BinaryFn.allCases { outs.append(try g.binary(f, x, row)) }
        for f in ReduceFn.allCases {
            outs.append(try g.add(.reduce(f, axes: [-1], keepDims: true), [x]))
            outs.append(try g.add(.reduce(f, axes: [0, 1], keepDims: false), [x]))
        }
        g.currentLabel = nil
        outs.append(try g.softmax(x, axis: 0))
        outs.append(try g.add(.softmaxGrad(axis: -1), [x, dy]))
        outs.append(try g.concat([x, dy, x], axis: -1))
        outs.append(try g.pad(x, low: [1, -1], high: [0, 2], value: 0.5))
        outs.append(try g.permute(x, [1, 0]))
        outs.append(try g.broadcast(row, [2, 3, 4]))
        outs.append(try g.reshape(x, [2, -1, 2]))
        let sl = try g.slice(x, dims: [0, 1], starts: [1, 0], ends: [3, 4], steps: [1, 2])  // [2, 2]
        outs.append(try g.add(.sliceBackward(starts: [1, 0], steps: [1, 2], inputShape: [3, 4]), [sl]))
        let picked = try g.gatherRows(x, [2, 0, 2, 1])
        outs.append(try g.add(.scatterAddRows(indices: [2, 0, 2, 1], rows: 3), [picked]))
        let m = g.input("m", [2, 4, 3])
        outs.append(try g.matmul(m, x, transposeA: true, transposeB: true))
        let m2 = g.input("m2", [2, 3, 5])
        outs.append(try g.matmul(x, m2, transposeA: true))
        let img = g.input("img", [1, 4, 5, 5])
        let wt = g.parameter("deconv.weight", [4, 3, 3, 3])
        let up = try g.convTranspose2d(img, wt, nil, stride: 2, padding: 1, groups: 1)   // [1, 3, 9, 9]
        outs.append(up)
        let dyConv = g.input("dy_conv", [1, 4, 4, 7])
        let geom = ConvGeometry(strideH: 2, strideW: 1, padH: 0, padW: 1, dilationH: 1, dilationW: 2, groups: 1)
        outs.append(try g.add(.conv2dBackwardWeight(geom, weightShape: [4, 3, 3, 3]), [up, dyConv]))
        let pooled = try g.maxPool2d(img, kernel: 2, stride: 2)
        outs.append(try g.add(.maxPool2dBackward(PoolGeometry(kernel: 2, stride: 2, padding: 0)), [img, pooled]))
        outs.append(try g.add(.adaptiveAvgPool2dBackward(inputShape: [1, 4, 7, 7]), [pooled]))
        outs.append(try g.resize(img, height: 9, width: 3, alignCorners: true, antialias: true))
        outs.append(try g.add(.resizeBackward(ResizeSpec(height: 5, width: 5, alignCorners: true), inputShape: [1, 4, 2, 8]), [img]))
        let aq = g.input("attn_q", [2, 6, 3]), ak = g.input("attn_k", [2, 6, 3]), av = g.input("attn_v", [2, 6, 5])
        outs.append(try g.attention(q: aq, k: ak, v: av, scale: 0.1))
        let wspec = WindowAttentionSpec(window: 2, heads: 2, d: 3, dv: 2, scale: 0.5, qOffset: 1, kOffset: 4, vOffset: 7, headStride: 8)
        outs.append(try g.add(.windowAttention(wspec), [g.input("win_qkv", [1, 3, 5, 17]), g.input("win_pad", [17]),
                                                        g.input("win_bias", [2, 4, 4])]))
        outs.append(try g.attention(q: aq, k: ak, v: av, relH: g.input("attn_rh", [2, 6, 2]),
                                    relW: g.input("attn_rw", [2, 6, 3]), scale: -.leastNonzeroMagnitude))
        let specials: [Float] = [.infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-30, 0.1]
        for (i, v) in specials.enumerated() { outs.append(g.constant(v, i == 0 ? [] : [i, 2])) }
        let empty = g.input("empty", [0, 3])
        outs.append(try g.relu(empty))
        for (i, v) in outs.enumerated() { g.output(i % 7 == 0 ? "out \"\(i)\" ü" : "out\(i)", v) }
        return g
    }

    private static func appendGradients(_ g: Graph, loss: Value, wrt: [Value]) throws {
        let seed = g.constant(1, g.shape(loss))
        let grads = try Autodiff.gradients(g, seeds: [(loss, seed)], wrt: wrt)
        for (v, d) in zip(wrt, grads) {
            guard let d else { continue }
            let name: String
            switch g[v].op {
            case .input(let n, _), .parameter(let n, _): name = n
            default: name = "\(v)"
            }
            g.output("grad/\(name)", d)
        }
    }

    /// The name of an `Op` case, with an exhaustive switch so a new case fails to compile here
    /// until a fixture covers it.
    static func caseName(_ op: Op) -> String {
        switch op {
        case .input: return "input"
        case .parameter: return "parameter"
        case .constant: return "constant"
        case .unary: return "unary"
        case .unaryGrad: return "unaryGrad"
        case .binary: return "binary"
        case .reduce: return "reduce"
        case .softmax: return "softmax"
        case .softmaxGrad: return "softmaxGrad"
        case .broadcast: return "broadcast"
        case .reshape: return "reshape"
        case .permute: return "permute"
        case .slice: return "slice"
        case .sliceBackward: return "sliceBackward"
        case .pad: return "pad"
        case .concat: return "concat"
        case .gatherRows: return "gatherRows"
        case .scatterAddRows: return "scatterAddRows"
        case .matmul: return "matmul"
        case .conv2d: return "conv2d"
        case .conv2dBackwardInput: return "conv2dBackwardInput"
        case .conv2dBackwardWeight: return "conv2dBackwardWeight"
        case .maxPool2d: return "maxPool2d"
        case .maxPool2dBackward: return "maxPool2dBackward"
        case .adaptiveAvgPool2d: return "adaptiveAvgPool2d"
        case .adaptiveAvgPool2dBackward: return "adaptiveAvgPool2dBackward"
        case .resize: return "resize"
        case .resizeBackward: return "resizeBackward"
        case .attention: return "attention"
        case .windowAttention: return "windowAttention"
        }
    }
    static let opCaseCount = 30

    /// Same idea for unary functions (parameters dropped).
    static func unaryName(_ f: UnaryFn) -> String {
        switch f {
        case .neg, .abs, .relu, .sigmoid, .tanh, .exp, .log, .sqrt, .rsqrt, .sin, .cos, .geluErf, .geluTanh,
             .hardswish, .square, .reciprocal, .softplus, .step: return f.name
        case .affine: return "affine"
        case .clamp: return "clamp"
        }
    }
    static let unaryCaseCount = 20
}
