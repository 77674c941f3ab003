import Tensor
import Primitives

extension Op {
    /// Attributes in a stable textual form (used by the printer and the structural hash).
    public var attributeText: String {
        func d(_ s: [Int]) -> String { ShapeMath.describe(s) }
        switch self {
        case .input(let n, _), .parameter(let n, _): return "\"\(n)\""
        case .constant(let v, _): return "\(v)"
        case .unary, .unaryGrad, .binary, .matmul(false, false): return ""
        case .matmul(let a, let b): return "transA=\(a) transB=\(b)"
        case .reduce(_, let axes, let keep): return "axes=\(d(axes)) keep=\(keep)"
        case .softmax(let a), .softmaxGrad(let a): return "axis=\(a)"
        case .broadcast(let s), .reshape(let s): return d(s)
        case .permute(let p): return d(p)
        case .slice(let st, let en, let sp): return "start=\(d(st)) end=\(d(en)) step=\(d(sp))"
        case .sliceBackward(let st, let sp, let s): return "start=\(d(st)) step=\(d(sp)) in=\(d(s))"
        case .pad(let lo, let hi, let v): return "low=\(d(lo)) high=\(d(hi)) value=\(v)"
        case .concat(let a): return "axis=\(a)"
        case .gatherRows(let i): return "indices=\(d(i))"
        case .scatterAddRows(let i, let r): return "indices=\(d(i)) rows=\(r)"
        case .attention(let scale): return "scale=\(scale)"
        case .windowAttention(let w): return "\(w)"
        case .conv2d(let g): return "\(g)"
        case .conv2dBackwardInput(let g, let s): return "\(g) in=\(d(s))"
        case .conv2dBackwardWeight(let g, let s): return "\(g) w=\(d(s))"
        case .maxPool2d(let p), .maxPool2dBackward(let p): return "k\(p.kernel) s\(p.stride) p\(p.padding)"
        case .adaptiveAvgPool2d(let h, let w): return "\(h)x\(w)"
        case .adaptiveAvgPool2dBackward(let s): return "in=\(d(s))"
        case .resize(let r): return "\(r.height)x\(r.width) align=\(r.alignCorners) aa=\(r.antialias)"
        case .resizeBackward(let r, let s): return "\(r.height)x\(r.width) align=\(r.alignCorners) aa=\(r.antialias) in=\(d(s))"
        }
    }
}

extension Graph {
    /// One line per node: `%3 = conv2d(%0, %1) s1x1 p1x1 d1x1 g1 : [1, 4, 8, 8]  # label`.
    public var text: String {
        var out = ""
        for (i, n) in nodes.enumerated() {
            let args = n.inputs.map(\.description).joined(separator: ", ")
            let attrs = n.op.attributeText
            out += "%\(i) = \(n.op.name)(\(args))\(attrs.isEmpty ? "" : " " + attrs) : \(ShapeMath.describe(n.shape))"
            if let l = n.label { out += "  # \(l)" }
            out += "\n"
        }
        for (name, v) in outputs { out += "output \"\(name)\" = \(v)\n" }
        return out
    }

    /// Graphviz DOT: leaves as boxes, outputs double-circled.
    public var dot: String {
        var out = "digraph samdg {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n"
        let outs = Set(outputs.map(\.value.id))
        for (i, n) in nodes.enumerated() {
            let shapeText = ShapeMath.describe(n.shape)
            let leaf = n.inputs.isEmpty
            var label = "%\(i) \(n.op.name)"
            if case .input(let nm, _) = n.op { label += " \(nm)" }
            if case .parameter(let nm, _) = n.op { label += " \(nm)" }
            label += "\\n\(shapeText)"
            let style = leaf ? "shape=box" : (outs.contains(i) ? "shape=doublecircle" : "shape=ellipse")
            out += "  n\(i) [label=\"\(label.replacingOccurrences(of: "\"", with: "\\\""))\", \(style)];\n"
            for v in n.inputs { out += "  n\(v.id) -> n\(i);\n" }
        }
        out += "}\n"
        return out
    }
}
