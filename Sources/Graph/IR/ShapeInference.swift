import Tensor
import Primitives

/// Raised by `Op.inferShape`; `Graph.add` adds the node and operand shapes to the message.
struct ShapeError: Error { let message: String; init(_ m: String) { message = m } }

extension Op {
    /// The result shape for these operand shapes, or a `ShapeError` saying what was expected.
    private func checkGeometry(_ g: ConvGeometry) throws {
        if g.strideH < 1 || g.strideW < 1 || g.dilationH < 1 || g.dilationW < 1 || g.groups < 1 || g.padH < 0 || g.padW < 0 {
            throw ShapeError("geometry \(g): strides, dilations and groups must be positive, padding non-negative")
        }
    }

    func inferShape(_ s: [[Int]]) throws -> [Int] {
        if let n = arity, s.count != n { throw ShapeError("expected \(n) operands, got \(s.count)") }
        func need(_ cond: Bool, _ msg: @autoclosure () -> String) throws { if !cond { throw ShapeError(msg()) } }
        switch self {
        case .input(_, let shape), .parameter(_, let shape), .constant(_, let shape):
            try need(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(ShapeMath.describe(shape))")
            return shape
        case .unary:
            return s[0]
        case .unaryGrad:
            try need(s[0] == s[1], "x and dy must have the same shape")
            return s[0]
        case .binary:
            guard let b = ShapeMath.broadcast(s[0], s[1]) else { throw ShapeError("shapes do not broadcast") }
            return b
        case .reduce(_, let axes, let keep):
            let r = s[0].count
            var out: [Int] = []
            let norm = try axes.map { a -> Int in
                guard let x = ShapeMath.axis(a, rank: r) else { throw ShapeError("axis \(a) out of range for rank \(r)") }
                return x
            }
            try need(Set(norm).count == norm.count, "repeated axis in \(axes)")
            for i in 0..<r {
                if norm.contains(i) { if keep { out.append(1) } } else { out.append(s[0][i]) }
            }
            return out
        case .softmax(let axis):
            try need(ShapeMath.axis(axis, rank: s[0].count) != nil, "axis \(axis) out of range")
            return s[0]
        case .softmaxGrad(let axis):
            try need(s[0] == s[1], "y and dy must have the same shape")
            try need(ShapeMath.axis(axis, rank: s[0].count) != nil, "axis \(axis) out of range")
            return s[0]
        case .broadcast(let shape):
            try need(ShapeMath.broadcast(s[0], shape) == shape, "cannot broadcast to \(ShapeMath.describe(shape))")
            return shape
        case .reshape(let shape):
            try need(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(ShapeMath.describe(shape))")
            try need(ShapeMath.count(shape) == ShapeMath.count(s[0]),
                     "reshape to \(ShapeMath.describe(shape)) changes the element count")
            return shape
        case .permute(let perm):
            try need(perm.sorted() == Array(0..<s[0].count), "permutation \(perm) does not match rank \(s[0].count)")
            return perm.map { s[0][$0] }
        case .slice(let starts, let ends, let steps):
            let r = s[0].count
            try need(starts.count == r && ends.count == r && steps.count == r, "slice needs start/end/step for each of \(r) axes")
            return try (0..<r).map { i in
                try need(steps[i] > 0, "step must be positive")
                try need(0 <= starts[i] && starts[i] <= ends[i] && ends[i] <= s[0][i],
                         "axis \(i): range \(starts[i])..<\(ends[i]) outside 0..<\(s[0][i])")
                return (ends[i] - starts[i] + steps[i] - 1) / steps[i]
            }
        case .sliceBackward(let starts, let steps, let inputShape):
            let r = inputShape.count
            try need(s[0].count == r && starts.count == r && steps.count == r, "rank mismatch")
            try need(steps.allSatisfy { $0 > 0 } && starts.allSatisfy { $0 >= 0 }, "steps must be positive and starts non-negative")
            for i in 0..<r {
                try need(starts[i] + (s[0][i] - 1) * steps[i] < inputShape[i] || s[0][i] == 0,
                         "axis \(i): slice does not fit in \(inputShape[i])")
            }
            return inputShape
        case .pad(let low, let high, _):
            let r = s[0].count
            try need(low.count == r && high.count == r, "pad needs low/high for each of \(r) axes")
            let out = (0..<r).map { s[0][$0] + low[$0] + high[$0] }
            try need(out.allSatisfy { $0 >= 0 }, "negative padding removes more than the axis holds")
            return out
        case .concat(let axis):
            try need(!s.isEmpty, "concat needs operands")
            guard let a = ShapeMath.axis(axis, rank: s[0].count) else { throw ShapeError("axis \(axis) out of range") }
            var out = s[0]
            for t in s.dropFirst() {
                try need(t.count == out.count, "concat operands differ in rank")
                for i in 0..<t.count where i != a { try need(t[i] == out[i], "concat operands differ on axis \(i)") }
                out[a] += t[a]
            }
            return out
        case .gatherRows(let idx):
            try need(!s[0].isEmpty, "gather_rows needs rank ≥ 1")
            try need(idx.allSatisfy { $0 >= 0 && $0 < s[0][0] }, "index outside 0..<\(s[0][0])")
            return [idx.count] + s[0].dropFirst()
        case .scatterAddRows(let idx, let rows):
            try need(!s[0].isEmpty && s[0][0] == idx.count, "dy must have \(idx.count) rows")
            try need(idx.allSatisfy { $0 >= 0 && $0 < rows }, "index outside 0..<\(rows)")
            return [rows] + s[0].dropFirst()
        case .matmul(let ta, let tb):
            try need(s[0].count >= 2 && s[1].count >= 2, "matmul operands need rank ≥ 2")
            let (m, k1) = ta ? (s[0][s[0].count - 1], s[0][s[0].count - 2]) : (s[0][s[0].count - 2], s[0][s[0].count - 1])
            let (k2, n) = tb ? (s[1][s[1].count - 1], s[1][s[1].count - 2]) : (s[1][s[1].count - 2], s[1][s[1].count - 1])
            try need(k1 == k2, "inner dimensions \(k1) and \(k2) differ")
            guard let batch = ShapeMath.broadcast(Array(s[0].dropLast(2)), Array(s[1].dropLast(2))) else {
                throw ShapeError("batch dimensions do not broadcast")
            }
            return batch + [m, n]
        case .attention:
            try need(s.count >= 3 && s.count <= 5, "attention takes q, k, v and optionally a bias or relH, relW; got \(s.count) operands")
            let r = s[0].count
            try need(r >= 2 && s.enumerated().allSatisfy { $0.element.count == r || (s.count == 4 && $0.offset == 3 && (2...r).contains($0.element.count)) },
                     "q, k, v (and relH, relW) need the same rank ≥ 2 (a bias at most that rank)")
            let batch = Array(s[0].dropLast(2))
            let (n, d, m) = (s[0][r - 2], s[0][r - 1], s[1][r - 2])
            if s.count == 4 {
                try need(Array(s[3].suffix(2)) == [n, m], "the bias needs [… \(n), \(m)] (queries × keys), got \(ShapeMath.describe(s[3]))")
                try need(ShapeMath.suffixBroadcastGroups(Array(s[3].dropLast(2)), to: batch) != nil,
                         "bias batch dims \(ShapeMath.describe(Array(s[3].dropLast(2)))) must be leading 1s then q's trailing batch dims \(ShapeMath.describe(batch))")
            }
            try need(s.enumerated().allSatisfy { $0.offset == 3 && s.count == 4 || Array($0.element.dropLast(2)) == batch },
                     "leading (batch) dimensions differ")
            try need(s[1][r - 1] == d, "q has \(d) channels, k has \(s[1][r - 1])")
            try need(s[2][r - 2] == m, "k has \(m) keys, v has \(s[2][r - 2])")
            if s.count == 5 {
                try need(s[3][r - 2] == n && s[4][r - 2] == n, "relH and relW need \(n) query rows")
                try need(s[3][r - 1] * s[4][r - 1] == m, "relH and relW widths \(s[3][r - 1])·\(s[4][r - 1]) must multiply to the \(m) keys")
            }
            return batch + [n, s[2][r - 1]]
        case .windowAttention(let w):
            try need(s.count == 2 || s.count == 3, "window_attention takes qkv, the pad row and optionally a bias; got \(s.count) operands")
            try need(w.window >= 1 && w.heads >= 1 && w.d >= 1 && w.dv >= 1 && w.headStride >= 0
                     && min(w.qOffset, w.kOffset, w.vOffset) >= 0, "window, heads, d and dv must be positive, offsets non-negative")
            try need(s[0].count == 4, "qkv needs [B, H, W, row], got \(ShapeMath.describe(s[0]))")
            let row = s[0][3]
            try need(w.minimumRow <= row, "\(w.heads) heads of q, k (\(w.d)) and v (\(w.dv)) need rows of at least \(w.minimumRow) columns, qkv has \(row)")
            try need(ShapeMath.count(s[1]) == row, "the pad row needs \(row) values, got \(ShapeMath.describe(s[1]))")
            if s.count == 3 {
                let n = w.tokens
                try need(ShapeMath.count(s[2]) == w.heads * n * n && s[2].suffix(2) == [n, n],
                         "the bias needs [\(w.heads), \(n), \(n)] (heads × window tokens²), got \(ShapeMath.describe(s[2]))")
            }
            return [s[0][0], s[0][1], s[0][2], w.heads * w.dv]
        case .conv2d(let g):
            try checkGeometry(g)
            let x = s[0], w = s[1]
            try need(x.count == 4 && w.count == 4, "conv2d needs NCHW input and OIHW weight")
            try need(g.groups >= 1 && x[1] % g.groups == 0 && w[0] % g.groups == 0, "channels not divisible by groups \(g.groups)")
            try need(w[1] * g.groups == x[1], "weight expects \(w[1] * g.groups) input channels, input has \(x[1])")
            let oh = ConvGeometry.outExtent(x[2], kernel: w[2], stride: g.strideH, pad: g.padH, dilation: g.dilationH)
            let ow = ConvGeometry.outExtent(x[3], kernel: w[3], stride: g.strideW, pad: g.padW, dilation: g.dilationW)
            try need(oh > 0 && ow > 0, "output would be empty")
            return [x[0], w[0], oh, ow]
        case .conv2dBackwardInput(let g, let xs):
            try checkGeometry(g)
            let dy = s[0], w = s[1]
            try need(xs.count == 4 && dy.count == 4 && w.count == 4, "rank 4 expected")
            try need(dy[1] == w[0] && w[1] * g.groups == xs[1] && dy[0] == xs[0], "weight/channels mismatch")
            let oh = ConvGeometry.outExtent(xs[2], kernel: w[2], stride: g.strideH, pad: g.padH, dilation: g.dilationH)
            let ow = ConvGeometry.outExtent(xs[3], kernel: w[3], stride: g.strideW, pad: g.padW, dilation: g.dilationW)
            try need(oh == dy[2] && ow == dy[3], "dy spatial \(dy[2])x\(dy[3]) does not match input \(xs[2])x\(xs[3]) (expects \(oh)x\(ow))")
            return xs
        case .conv2dBackwardWeight(let g, let ws):
            let x = s[0], dy = s[1]
            try need(x.count == 4 && dy.count == 4 && ws.count == 4, "rank 4 expected")
            try checkGeometry(g)
            try need(dy[1] == ws[0] && ws[1] * g.groups == x[1] && dy[0] == x[0], "weight/channels mismatch")
            let oh = ConvGeometry.outExtent(x[2], kernel: ws[2], stride: g.strideH, pad: g.padH, dilation: g.dilationH)
            let ow = ConvGeometry.outExtent(x[3], kernel: ws[3], stride: g.strideW, pad: g.padW, dilation: g.dilationW)
            try need(oh == dy[2] && ow == dy[3], "dy spatial \(dy[2])x\(dy[3]) does not match the convolution output \(oh)x\(ow)")
            return ws
        case .maxPool2d(let p):
            let x = s[0]
            try need(x.count == 4, "NCHW expected")
            try need(p.kernel >= 1 && p.stride >= 1 && p.padding >= 0, "kernel and stride must be positive")
            try need(p.padding * 2 <= p.kernel, "padding must be at most half the kernel")
            let oh = (x[2] + 2 * p.padding - p.kernel) / p.stride + 1
            let ow = (x[3] + 2 * p.padding - p.kernel) / p.stride + 1
            return [x[0], x[1], oh, ow]
        case .maxPool2dBackward(let p):
            try need(s[0].count == 4 && s[1].count == 4, "NCHW expected")
            let pooled = try Op.maxPool2d(p).inferShape([s[0]])
            try need(pooled == s[1], "dy \(ShapeMath.describe(s[1])) does not match the pooled shape \(ShapeMath.describe(pooled))")
            return s[0]
        case .adaptiveAvgPool2d(let h, let w):
            try need(s[0].count == 4, "NCHW expected")
            try need(h >= 1 && w >= 1, "output size must be positive")
            return [s[0][0], s[0][1], h, w]
        case .adaptiveAvgPool2dBackward(let xs):
            try need(s[0].count == 4 && xs.count == 4 && Array(xs.prefix(2)) == Array(s[0].prefix(2)), "NCHW mismatch")
            return xs
        case .resize(let r):
            try need(s[0].count >= 2, "resize needs rank ≥ 2")
            return Array(s[0].dropLast(2)) + [r.height, r.width]
        case .resizeBackward(let r, let xs):
            try need(s[0].count == xs.count && s[0].suffix(2) == [r.height, r.width], "dy does not match the resize output")
            return xs
        }
    }
}
