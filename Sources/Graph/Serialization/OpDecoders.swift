import Tensor
import Primitives
internal import GraphProto

/// One decoder per op kind name written by `ProtoWriter`: node attributes → `Op`.
///
/// Besides presence and kind, the decoders check the ranges shape inference relies on but does
/// not itself check (positive strides, dilations, groups and pool kernels; positive slice
/// steps), so a corrupt file cannot make inference divide by zero.
extension ProtoReader {
    typealias Decoder = @Sendable (Attributes) throws -> Op

    static let decoders: [String: Decoder] = [
        "input": { a in try leaf(a) { .input(name: $0, shape: $1) } },
        "parameter": { a in try leaf(a) { .parameter(name: $0, shape: $1) } },
        "constant": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_CONSTANT) { $0.constant }
            return .constant(value: try a.required(m.has_value, m.value, "value"),
                             shape: try a.shape(m.n_shape, m.shape, "shape"))
        },
        "unary": { a in .unary(try unary(a)) },
        "unary_grad": { a in .unaryGrad(try unary(a)) },
        "binary": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_BINARY) { $0.binary }
            return .binary(try a.enumValue(m.has_kind, m.kind.rawValue, "binary function",
                                           samdg__binary_kind__descriptor, GraphFormat.binary))
        },
        "reduce": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_REDUCE) { $0.reduce }
            return .reduce(try a.enumValue(m.has_kind, m.kind.rawValue, "reduce function",
                                           samdg__reduce_kind__descriptor, GraphFormat.reduce),
                           axes: try a.ints(m.n_axes, m.axes, "axes"),
                           keepDims: try a.bool(m.has_keep_dims, m.keep_dims, "keep_dims"))
        },
        "softmax": { a in .softmax(axis: try axis(a)) },
        "softmax_grad": { a in .softmaxGrad(axis: try axis(a)) },
        "concat": { a in .concat(axis: try axis(a)) },
        "broadcast": { a in .broadcast(shape: try intList(a, SAMDG__NODE__ATTRIBUTES_TARGET_SHAPE, { $0.target_shape }, shape: true)) },
        "reshape": { a in .reshape(shape: try intList(a, SAMDG__NODE__ATTRIBUTES_TARGET_SHAPE, { $0.target_shape }, shape: true)) },
        "permute": { a in .permute(perm: try intList(a, SAMDG__NODE__ATTRIBUTES_PERM, { $0.perm }, shape: false)) },
        "slice": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_SLICE) { $0.slice }
            return .slice(starts: try a.ints(m.n_starts, m.starts, "starts"), ends: try a.ints(m.n_ends, m.ends, "ends"),
                          steps: try a.ints(m.n_steps, m.steps, "steps"))
        },
        "slice_backward": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_SLICE_BACKWARD) { $0.slice_backward }
            let starts = try a.ints(m.n_starts, m.starts, "starts"), steps = try a.ints(m.n_steps, m.steps, "steps")
            guard starts.allSatisfy({ $0 >= 0 }), steps.allSatisfy({ $0 >= 1 }) else {
                throw a.fail("slice_backward needs starts ≥ 0 and steps ≥ 1, got starts \(starts) steps \(steps)")
            }
            return .sliceBackward(starts: starts, steps: steps, inputShape: try a.shape(m.n_input_shape, m.input_shape, "input_shape"))
        },
        "pad": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_PAD) { $0.pad }
            return .pad(low: try a.ints(m.n_low, m.low, "low"), high: try a.ints(m.n_high, m.high, "high"),
                        value: try a.required(m.has_value, m.value, "value"))
        },
        "gather_rows": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_ROWS) { $0.rows }
            return .gatherRows(indices: try a.ints(m.n_indices, m.indices, "indices"))
        },
        "scatter_add_rows": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_ROWS) { $0.rows }
            return .scatterAddRows(indices: try a.ints(m.n_indices, m.indices, "indices"),
                                   rows: try a.int(m.has_rows, m.rows, "rows", atLeast: 0))
        },
        "matmul": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_MATMUL) { $0.matmul }
            return .matmul(transposeA: try a.bool(m.has_transpose_a, m.transpose_a, "transpose_a"),
                           transposeB: try a.bool(m.has_transpose_b, m.transpose_b, "transpose_b"))
        },
        "conv2d": { a in .conv2d(try conv(a).0) },
        "conv2d_backward_input": { a in
            let (g, s) = try conv(a)
            return .conv2dBackwardInput(g, inputShape: s)
        },
        "conv2d_backward_weight": { a in
            let (g, s) = try conv(a)
            return .conv2dBackwardWeight(g, weightShape: s)
        },
        "attention": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_ATTENTION) { $0.attention }
            return .attention(scale: try a.required(m.has_scale, m.scale, "scale"))
        },
        "window_attention": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_WINDOW_ATTENTION) { $0.window_attention }
            return .windowAttention(WindowAttentionSpec(
                window: try a.int(m.has_window, m.window, "window", atLeast: 1),
                heads: try a.int(m.has_heads, m.heads, "heads", atLeast: 1),
                d: try a.int(m.has_d, m.d, "d", atLeast: 1), dv: try a.int(m.has_dv, m.dv, "dv", atLeast: 1),
                scale: try a.required(m.has_scale, m.scale, "scale"),
                qOffset: try a.int(m.has_q_offset, m.q_offset, "q_offset", atLeast: 0),
                kOffset: try a.int(m.has_k_offset, m.k_offset, "k_offset", atLeast: 0),
                vOffset: try a.int(m.has_v_offset, m.v_offset, "v_offset", atLeast: 0),
                headStride: try a.int(m.has_head_stride, m.head_stride, "head_stride", atLeast: 0)))
        },
        "max_pool2d": { a in .maxPool2d(try pool(a)) },
        "max_pool2d_backward": { a in .maxPool2dBackward(try pool(a)) },
        "adaptive_avg_pool2d": { a in
            let m = try a.expect(SAMDG__NODE__ATTRIBUTES_SIZE) { $0.size }
            return .adaptiveAvgPool2d(height: try a.int(m.has_height, m.height, "height", atLeast: 1),
                                      width: try a.int(m.has_width, m.width, "width", atLeast: 1))
        },
        "adaptive_avg_pool2d_backward": { a in
            .adaptiveAvgPool2dBackward(inputShape: try intList(a, SAMDG__NODE__ATTRIBUTES_INPUT_SHAPE, { $0.input_shape }, shape: true))
        },
        "resize_bilinear": { a in .resize(try resize(a).0) },
        "resize_bilinear_backward": { a in
            let (r, s) = try resize(a)
            return .resizeBackward(r, inputShape: s)
        },
    ]

    private static func leaf(_ a: Attributes, _ make: (String, [Int]) -> Op) throws -> Op {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_LEAF) { $0.leaf }
        guard let cName = m.name else { throw a.fail("missing attribute name") }
        guard let name = String(validatingCString: cName) else { throw a.fail("leaf name is not valid UTF-8") }
        return make(name, try a.shape(m.n_shape, m.shape, "shape"))
    }

    private static func unary(_ a: Attributes) throws -> UnaryFn {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_UNARY) { $0.unary }
        let raw = try a.required(m.has_kind, m.kind.rawValue, "kind")
        switch raw {
        case GraphFormat.affineKind:
            return .affine(scale: try a.required(m.has_scale, m.scale, "scale (of affine)"),
                           shift: try a.required(m.has_shift, m.shift, "shift (of affine)"))
        case GraphFormat.clampKind:
            return .clamp(lo: try a.required(m.has_lo, m.lo, "lo (of clamp)"),
                          hi: try a.required(m.has_hi, m.hi, "hi (of clamp)"))
        default:
            // affine and clamp are listed only so the error names every value the format defines.
            let table = GraphFormat.plainUnary + [(GraphFormat.affineKind, .affine(scale: 1, shift: 0)),
                                                  (GraphFormat.clampKind, .clamp(lo: 0, hi: 0))]
            return try a.enumValue(m.has_kind, raw, "unary function", samdg__unary_kind__descriptor, table)
        }
    }

    private static func axis(_ a: Attributes) throws -> Int {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_AXIS) { $0.axis }
        return try a.int(m.has_axis, m.axis, "axis")
    }

    private static func intList(_ a: Attributes, _ c: Samdg__Node__AttributesCase,
                                _ get: (Samdg__Node) -> UnsafeMutablePointer<Samdg__IntList>?, shape: Bool) throws -> [Int] {
        let m = try a.expect(c, get)
        let name = GraphFormat.attributeName(c)
        return shape ? try a.shape(m.n_values, m.values, name) : try a.ints(m.n_values, m.values, name)
    }

    /// Geometry plus the shape attribute (empty for `conv2d`).
    private static func conv(_ a: Attributes) throws -> (ConvGeometry, [Int]) {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_CONV) { $0.conv }
        guard let gp = m.geometry else { throw a.fail("missing attribute geometry") }
        let g = gp.pointee
        let geometry = ConvGeometry(
            strideH: try a.int(g.has_stride_h, g.stride_h, "stride_h", atLeast: 1),
            strideW: try a.int(g.has_stride_w, g.stride_w, "stride_w", atLeast: 1),
            padH: try a.int(g.has_pad_h, g.pad_h, "pad_h", atLeast: 0),
            padW: try a.int(g.has_pad_w, g.pad_w, "pad_w", atLeast: 0),
            dilationH: try a.int(g.has_dilation_h, g.dilation_h, "dilation_h", atLeast: 1),
            dilationW: try a.int(g.has_dilation_w, g.dilation_w, "dilation_w", atLeast: 1),
            groups: try a.int(g.has_groups, g.groups, "groups", atLeast: 1))
        return (geometry, try a.shape(m.n_shape, m.shape, "shape"))
    }

    private static func pool(_ a: Attributes) throws -> PoolGeometry {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_POOL) { $0.pool }
        return PoolGeometry(kernel: try a.int(m.has_kernel, m.kernel, "kernel", atLeast: 1),
                            stride: try a.int(m.has_stride, m.stride, "stride", atLeast: 1),
                            padding: try a.int(m.has_padding, m.padding, "padding", atLeast: 0))
    }

    /// Spec plus the input shape (empty for `resize_bilinear`).
    private static func resize(_ a: Attributes) throws -> (ResizeSpec, [Int]) {
        let m = try a.expect(SAMDG__NODE__ATTRIBUTES_RESIZE) { $0.resize }
        guard let sp = m.spec else { throw a.fail("missing attribute spec") }
        let s = sp.pointee
        let spec = ResizeSpec(height: try a.int(s.has_height, s.height, "height", atLeast: 1),
                              width: try a.int(s.has_width, s.width, "width", atLeast: 1),
                              alignCorners: try a.bool(s.has_align_corners, s.align_corners, "align_corners"),
                              antialias: try a.bool(s.has_antialias, s.antialias, "antialias"))
        return (spec, try a.shape(m.n_input_shape, m.input_shape, "input_shape"))
    }
}
