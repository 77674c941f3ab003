import Tensor
import Primitives
internal import GraphProto

/// Graph → protobuf-c message tree (`Samdg__Graph`), every block owned by a `CAllocations`.
///
/// Each node stores its op kind in `op` and the kind's attributes in the `attributes` oneof
/// (see `proto/samdg_graph.proto`); `ProtoReader` is the inverse.
struct ProtoWriter {
    let c: CAllocations
    let place: String

    func message(for graph: Graph) throws -> UnsafeMutablePointer<Samdg__Graph> {
        let g = c.message(samdg__graph__init)
        g.pointee.has_version = 1
        g.pointee.version = GraphFormat.version
        let nodes = try graph.nodes.enumerated().map { i, n in try node(n, index: i) }
        (g.pointee.n_nodes, g.pointee.nodes) = c.pointers(nodes)
        let outputs = try graph.outputs.map { name, v -> UnsafeMutablePointer<Samdg__Output> in
            let o = c.message(samdg__output__init)
            o.pointee.name = try string(name) { SamdgError("\(place) output \"\(name)\"", $0) }
            o.pointee.has_node = 1
            o.pointee.node = Int64(v.id)
            return o
        }
        (g.pointee.n_outputs, g.pointee.outputs) = c.pointers(outputs)
        g.pointee.has_node_count = 1
        g.pointee.node_count = UInt64(nodes.count)
        g.pointee.has_output_count = 1
        g.pointee.output_count = UInt64(outputs.count)
        return g
    }

    private func node(_ n: Node, index: Int) throws -> UnsafeMutablePointer<Samdg__Node> {
        let fail = { (m: String) in SamdgError("\(place) node %\(index) (\(n.op.name))", m) }
        let p = c.message(samdg__node__init)
        try GraphFormat.checkShape(n.shape, "shape", fail)
        (p.pointee.n_operands, p.pointee.operands) = c.ints(n.inputs.map(\.id))
        (p.pointee.n_shape, p.pointee.shape) = c.ints(n.shape)
        if let l = n.label { p.pointee.label = try string(l, fail) }
        p.pointee.op = c.string(try attributes(n.op, into: p, fail))
        return p
    }

    private func string(_ s: String, _ fail: (String) -> SamdgError) throws -> UnsafeMutablePointer<CChar> {
        if s.utf8.contains(0) { throw fail("string \"\(s)\" holds a NUL character, which the format cannot store") }
        return c.string(s)
    }

    /// A checked repeated int64 field.
    private func ints(_ xs: [Int], _ what: String, _ fail: (String) -> SamdgError) throws -> (Int, UnsafeMutablePointer<Int64>?) {
        try GraphFormat.checkInts(xs, what, fail)
        return c.ints(xs)
    }

    private func int(_ x: Int, _ what: String, _ fail: (String) -> SamdgError) throws -> Int64 {
        try GraphFormat.checkInts([x], what, fail)
        return Int64(x)
    }

    /// Fills the node's attributes and returns its op kind name.
    private func attributes(_ op: Op, into n: UnsafeMutablePointer<Samdg__Node>,
                            _ fail: (String) -> SamdgError) throws -> String {
        func intList(_ xs: [Int], _ what: String) throws -> UnsafeMutablePointer<Samdg__IntList> {
            let m = c.message(samdg__int_list__init)
            (m.pointee.n_values, m.pointee.values) = try ints(xs, what, fail)
            return m
        }
        switch op {
        case .input(let name, let shape), .parameter(let name, let shape):
            let m = c.message(samdg__leaf__init)
            m.pointee.name = try string(name, fail)
            (m.pointee.n_shape, m.pointee.shape) = try ints(shape, "leaf shape", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_LEAF
            n.pointee.leaf = m
            if case .input = op { return "input" } else { return "parameter" }
        case .constant(let value, let shape):
            let m = c.message(samdg__constant__init)
            m.pointee.has_value = 1
            m.pointee.value = value
            (m.pointee.n_shape, m.pointee.shape) = try ints(shape, "constant shape", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_CONSTANT
            n.pointee.constant = m
            return "constant"
        case .unary(let f), .unaryGrad(let f):
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_UNARY
            n.pointee.unary = unary(f)
            if case .unary = op { return "unary" } else { return "unary_grad" }
        case .binary(let f):
            let m = c.message(samdg__binary_function__init)
            m.pointee.has_kind = 1
            m.pointee.kind = Samdg__BinaryKind(rawValue: GraphFormat.binary.first { $0.1 == f }!.0)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_BINARY
            n.pointee.binary = m
            return "binary"
        case .reduce(let f, let axes, let keep):
            let m = c.message(samdg__reduce__init)
            m.pointee.has_kind = 1
            m.pointee.kind = Samdg__ReduceKind(rawValue: GraphFormat.reduce.first { $0.1 == f }!.0)
            (m.pointee.n_axes, m.pointee.axes) = try ints(axes, "axes", fail)
            m.pointee.has_keep_dims = 1
            m.pointee.keep_dims = keep ? 1 : 0
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_REDUCE
            n.pointee.reduce = m
            return "reduce"
        case .softmax(let axis), .softmaxGrad(let axis), .concat(let axis):
            let m = c.message(samdg__axis__init)
            m.pointee.has_axis = 1
            m.pointee.axis = try int(axis, "axis", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_AXIS
            n.pointee.axis = m
            if case .softmax = op { return "softmax" }
            if case .softmaxGrad = op { return "softmax_grad" }
            return "concat"
        case .broadcast(let shape), .reshape(let shape):
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_TARGET_SHAPE
            n.pointee.target_shape = try intList(shape, "target shape")
            if case .broadcast = op { return "broadcast" } else { return "reshape" }
        case .permute(let perm):
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_PERM
            n.pointee.perm = try intList(perm, "perm")
            return "permute"
        case .slice(let starts, let ends, let steps):
            let m = c.message(samdg__slice__init)
            (m.pointee.n_starts, m.pointee.starts) = try ints(starts, "starts", fail)
            (m.pointee.n_ends, m.pointee.ends) = try ints(ends, "ends", fail)
            (m.pointee.n_steps, m.pointee.steps) = try ints(steps, "steps", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_SLICE
            n.pointee.slice = m
            return "slice"
        case .sliceBackward(let starts, let steps, let inputShape):
            let m = c.message(samdg__slice_backward__init)
            (m.pointee.n_starts, m.pointee.starts) = try ints(starts, "starts", fail)
            (m.pointee.n_steps, m.pointee.steps) = try ints(steps, "steps", fail)
            (m.pointee.n_input_shape, m.pointee.input_shape) = try ints(inputShape, "input shape", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_SLICE_BACKWARD
            n.pointee.slice_backward = m
            return "slice_backward"
        case .pad(let low, let high, let value):
            let m = c.message(samdg__pad__init)
            (m.pointee.n_low, m.pointee.low) = try ints(low, "low", fail)
            (m.pointee.n_high, m.pointee.high) = try ints(high, "high", fail)
            m.pointee.has_value = 1
            m.pointee.value = value
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_PAD
            n.pointee.pad = m
            return "pad"
        case .gatherRows(let indices), .scatterAddRows(let indices, _):
            let m = c.message(samdg__rows__init)
            (m.pointee.n_indices, m.pointee.indices) = try ints(indices, "indices", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_ROWS
            n.pointee.rows = m
            guard case .scatterAddRows(_, let rows) = op else { return "gather_rows" }
            m.pointee.has_rows = 1
            m.pointee.rows = try int(rows, "rows", fail)
            return "scatter_add_rows"
        case .matmul(let ta, let tb):
            let m = c.message(samdg__matmul__init)
            m.pointee.has_transpose_a = 1
            m.pointee.transpose_a = ta ? 1 : 0
            m.pointee.has_transpose_b = 1
            m.pointee.transpose_b = tb ? 1 : 0
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_MATMUL
            n.pointee.matmul = m
            return "matmul"
        case .conv2d(let g), .conv2dBackwardInput(let g, _), .conv2dBackwardWeight(let g, _):
            let m = c.message(samdg__conv__init)
            m.pointee.geometry = try conv(g, fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_CONV
            n.pointee.conv = m
            switch op {
            case .conv2dBackwardInput(_, let s):
                (m.pointee.n_shape, m.pointee.shape) = try ints(s, "input shape", fail)
                return "conv2d_backward_input"
            case .conv2dBackwardWeight(_, let s):
                (m.pointee.n_shape, m.pointee.shape) = try ints(s, "weight shape", fail)
                return "conv2d_backward_weight"
            default:
                return "conv2d"
            }
        case .attention(let scale):
            let m = c.message(samdg__attention__init)
            m.pointee.has_scale = 1
            m.pointee.scale = scale
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_ATTENTION
            n.pointee.attention = m
            return "attention"
        case .windowAttention(let w):
            let m = c.message(samdg__window_attention__init)
            m.pointee.has_window = 1; m.pointee.window = try int(w.window, "window", fail)
            m.pointee.has_heads = 1; m.pointee.heads = try int(w.heads, "heads", fail)
            m.pointee.has_d = 1; m.pointee.d = try int(w.d, "d", fail)
            m.pointee.has_dv = 1; m.pointee.dv = try int(w.dv, "dv", fail)
            m.pointee.has_scale = 1; m.pointee.scale = w.scale
            m.pointee.has_q_offset = 1; m.pointee.q_offset = try int(w.qOffset, "q offset", fail)
            m.pointee.has_k_offset = 1; m.pointee.k_offset = try int(w.kOffset, "k offset", fail)
            m.pointee.has_v_offset = 1; m.pointee.v_offset = try int(w.vOffset, "v offset", fail)
            m.pointee.has_head_stride = 1; m.pointee.head_stride = try int(w.headStride, "head stride", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_WINDOW_ATTENTION
            n.pointee.window_attention = m
            return "window_attention"
        case .maxPool2d(let p), .maxPool2dBackward(let p):
            let m = c.message(samdg__pool_geometry__init)
            m.pointee.has_kernel = 1
            m.pointee.kernel = try int(p.kernel, "kernel", fail)
            m.pointee.has_stride = 1
            m.pointee.stride = try int(p.stride, "stride", fail)
            m.pointee.has_padding = 1
            m.pointee.padding = try int(p.padding, "padding", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_POOL
            n.pointee.pool = m
            if case .maxPool2d = op { return "max_pool2d" } else { return "max_pool2d_backward" }
        case .adaptiveAvgPool2d(let h, let w):
            let m = c.message(samdg__size2__init)
            m.pointee.has_height = 1
            m.pointee.height = try int(h, "height", fail)
            m.pointee.has_width = 1
            m.pointee.width = try int(w, "width", fail)
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_SIZE
            n.pointee.size = m
            return "adaptive_avg_pool2d"
        case .adaptiveAvgPool2dBackward(let s):
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_INPUT_SHAPE
            n.pointee.input_shape = try intList(s, "input shape")
            return "adaptive_avg_pool2d_backward"
        case .resize(let r), .resizeBackward(let r, _):
            let spec = c.message(samdg__resize_spec__init)
            spec.pointee.has_height = 1
            spec.pointee.height = try int(r.height, "height", fail)
            spec.pointee.has_width = 1
            spec.pointee.width = try int(r.width, "width", fail)
            spec.pointee.has_align_corners = 1
            spec.pointee.align_corners = r.alignCorners ? 1 : 0
            spec.pointee.has_antialias = 1
            spec.pointee.antialias = r.antialias ? 1 : 0
            let m = c.message(samdg__resize__init)
            m.pointee.spec = spec
            n.pointee.attributes_case = SAMDG__NODE__ATTRIBUTES_RESIZE
            n.pointee.resize = m
            guard case .resizeBackward(_, let s) = op else { return "resize_bilinear" }
            (m.pointee.n_input_shape, m.pointee.input_shape) = try ints(s, "input shape", fail)
            return "resize_bilinear_backward"
        }
    }

    private func unary(_ f: UnaryFn) -> UnsafeMutablePointer<Samdg__UnaryFunction> {
        let m = c.message(samdg__unary_function__init)
        m.pointee.has_kind = 1
        switch f {
        case .affine(let scale, let shift):
            m.pointee.kind = Samdg__UnaryKind(rawValue: GraphFormat.affineKind)
            m.pointee.has_scale = 1
            m.pointee.scale = scale
            m.pointee.has_shift = 1
            m.pointee.shift = shift
        case .clamp(let lo, let hi):
            m.pointee.kind = Samdg__UnaryKind(rawValue: GraphFormat.clampKind)
            m.pointee.has_lo = 1
            m.pointee.lo = lo
            m.pointee.has_hi = 1
            m.pointee.hi = hi
        default:
            m.pointee.kind = Samdg__UnaryKind(rawValue: GraphFormat.plainUnary.first { $0.1 == f }!.0)
        }
        return m
    }

    private func conv(_ g: ConvGeometry, _ fail: (String) -> SamdgError) throws -> UnsafeMutablePointer<Samdg__ConvGeometry> {
        let m = c.message(samdg__conv_geometry__init)
        m.pointee.has_stride_h = 1; m.pointee.stride_h = try int(g.strideH, "stride_h", fail)
        m.pointee.has_stride_w = 1; m.pointee.stride_w = try int(g.strideW, "stride_w", fail)
        m.pointee.has_pad_h = 1; m.pointee.pad_h = try int(g.padH, "pad_h", fail)
        m.pointee.has_pad_w = 1; m.pointee.pad_w = try int(g.padW, "pad_w", fail)
        m.pointee.has_dilation_h = 1; m.pointee.dilation_h = try int(g.dilationH, "dilation_h", fail)
        m.pointee.has_dilation_w = 1; m.pointee.dilation_w = try int(g.dilationW, "dilation_w", fail)
        m.pointee.has_groups = 1; m.pointee.groups = try int(g.groups, "groups", fail)
        return m
    }
}
