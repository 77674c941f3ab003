import Tensor
import Primitives

extension Graph {
    public func matmul(_ a: Value, _ b: Value, transposeA: Bool = false, transposeB: Bool = false) throws -> Value {
        try add(.matmul(transposeA: transposeA, transposeB: transposeB), [a, b])
    }

    /// PyTorch `F.linear`: x[…, in] · weight[out, in]ᵀ (+ bias[out]).
    public func linear(_ x: Value, _ weight: Value, _ bias: Value? = nil) throws -> Value {
        let y = try matmul(x, weight, transposeB: true)
        guard let b = bias else { return y }
        return try add(y, b)
    }

    /// PyTorch `F.conv2d` (NCHW, OIHW weights, optional bias[out]).
    public func conv2d(_ x: Value, _ weight: Value, _ bias: Value? = nil, _ g: ConvGeometry = ConvGeometry()) throws -> Value {
        let y = try add(.conv2d(g), [x, weight])
        guard let b = bias else { return y }
        return try add(y, reshape(b, [1, shape(b)[0], 1, 1]))
    }

    /// PyTorch `F.conv_transpose2d` (weight [in, out/groups, kh, kw]; output_padding 0): the
    /// input-gradient of the convolution it transposes.
    public func convTranspose2d(_ x: Value, _ weight: Value, _ bias: Value? = nil,
                                stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) throws -> Value {
        let xs = shape(x), ws = shape(weight)
        guard xs.count == 4, ws.count == 4, ws[0] == xs[1] else {
            throw SamdgError("conv_transpose2d", "expected x [N, C, H, W] and weight [C, O/g, kh, kw]; got \(ShapeMath.describe(xs)) and \(ShapeMath.describe(ws))")
        }
        let oh = (xs[2] - 1) * stride - 2 * padding + dilation * (ws[2] - 1) + 1
        let ow = (xs[3] - 1) * stride - 2 * padding + dilation * (ws[3] - 1) + 1
        let g = ConvGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups)
        let y = try add(.conv2dBackwardInput(g, inputShape: [xs[0], ws[1] * groups, oh, ow]), [x, weight])
        guard let b = bias else { return y }
        return try add(y, reshape(b, [1, shape(b)[0], 1, 1]))
    }

    func vjpContraction(_ node: Node, out: Value, dy: Value, needs: [Bool]) throws -> [Value?] {
        let a = node.inputs[0], b = node.inputs[1]
        switch node.op {
        case .matmul(let ta, let tb):
            var da: Value? = nil, db: Value? = nil
            if needs[0] {
                let b = try shiftFreeCentered(b, leftOperand: a, dy: dy, ta: ta, tb: tb)
                let g = ta ? try matmul(b, dy, transposeA: tb, transposeB: true)
                           : try matmul(dy, b, transposeA: false, transposeB: !tb)
                da = try reduceTo(g, shape(a))
            }
            let a = needs[1] ? try shiftFreeCentered(leftOperand: a, dy: dy, ta: ta) : a
            if needs[1], let flat = try batchFoldedWeightGradient(a: a, b: b, dy: dy, ta: ta, tb: tb) {
                db = flat
            } else if needs[1] {
                let g = tb ? try matmul(dy, a, transposeA: true, transposeB: ta)
                           : try matmul(a, dy, transposeA: !ta, transposeB: false)
                db = try reduceTo(g, shape(b))
            }
            return [da, db]
        case .conv2d(let g):
            return [needs[0] ? try add(.conv2dBackwardInput(g, inputShape: shape(a)), [dy, b]) : nil,
                    needs[1] ? try add(.conv2dBackwardWeight(g, weightShape: shape(b)), [a, dy]) : nil]
        case .conv2dBackwardInput(let g, _):
            // out = Cᵀ(a; b): linear in the incoming gradient a and the weight b.
            return [needs[0] ? try add(.conv2d(g), [dy, b]) : nil,
                    needs[1] ? try add(.conv2dBackwardWeight(g, weightShape: shape(b)), [dy, a]) : nil]
        case .conv2dBackwardWeight(let g, _):
            // out = W(a; b) with <ct, W(x; d)> = <d, C(x; ct)>.
            return [needs[0] ? try add(.conv2dBackwardInput(g, inputShape: shape(a)), [b, dy]) : nil,
                    needs[1] ? try add(.conv2d(g), [a, dy]) : nil]
        default:
            fatalError("vjpContraction on \(node.op.name)")
        }
    }

    /// The right operand of `dA = dY·Bᵀ`, centred where that is exact, for accuracy.
    ///
    /// Attention's backward is ill-conditioned as a float32 computation, not as a function:
    /// with P = softmax(S) and O = P·V, `dP = dO·Vᵀ` carries a large component that is the same
    /// for every key whenever the rows of V share a large common vector, and
    /// `softmax_grad = P ⊙ (dP − Σ P·dP)` then cancels it. The rounding error of the GEMM is
    /// relative to |dO|·|V|, the result is relative to |dO|·|V − mean V|; in SAM's decoder the ratio
    /// is ~50, so the q/k-projection gradients carried ~3e-5 of float noise, and any 5e-7 change
    /// upstream (a fused kernel's summation order) grew by the same factor.
    ///
    /// Two shifts change dA by nothing, mathematically:
    /// 1. A = softmax along the contracted axis k: `dA[i, k] = Σₙ dY[i, n]·B[k, n]`; centring B
    ///    along k (B − meanₖ B) shifts row i of dA by a constant over k, which the softmax
    ///    gradient annihilates (P ⊙ (c − Σ P·c) = 0). dA's only consumer is that softmax's VJP.
    /// 2. dY sums to zero along n (the softmax gradient leaving the scores, see `zeroSumAxes`):
    ///    centring B along n changes dA by (Σₙ dY[i, n])·m[k] = 0. This is dq = dS·K.
    ///
    /// Both cost one mean and one subtraction over B, against a GEMM over it.
    ///
    /// ```
    ///   dP = dO·(V − meanⱼ V)ᵀ      dq = dS·(K − meanⱼ K)      (j: the key axis)
    /// ```
    func shiftFreeCentered(_ b: Value, leftOperand a: Value, dy: Value, ta: Bool, tb: Bool) throws -> Value {
        let ra = shape(a).count, rb = shape(b).count, ry = shape(dy).count
        guard ra >= 2, rb >= 2, shape(b)[rb - 2] > 1, shape(b)[rb - 1] > 1 else { return b }
        // logical B is [k, n]: stored [k, n] (tb false) or [n, k] (tb true)
        let kAxis = tb ? rb - 1 : rb - 2, nAxis = tb ? rb - 2 : rb - 1
        if case .softmax(let axis) = nodes[a.id].op, ShapeMath.axis(axis, rank: ra) == (ta ? ra - 2 : ra - 1) {
            return try centred(b, along: kAxis)
        }
        if zeroSumAxes(dy).contains(ry - 1) {
            return try centred(b, along: nAxis)
        }
        return b
    }

    /// The left operand of `dB = Aᵀ·dY`, centred along the contracted row axis i when dY sums to
    /// zero along it: dB changes by Σᵢ dY[i, n]·m[k] = 0 (per batch; also when the batch is folded
    /// into the contraction). This is the key projection's weight gradient: dK sums to zero over
    /// the keys, and the image tokens share a large mean, so Σⱼ dK[j]·x[j] cancelled in float32.
    func shiftFreeCentered(leftOperand a: Value, dy: Value, ta: Bool) throws -> Value {
        let ra = shape(a).count, ry = shape(dy).count
        guard ra >= 2, ry >= 2, zeroSumAxes(dy).contains(ry - 2) else { return a }
        let iAxis = ta ? ra - 1 : ra - 2
        guard shape(a)[iAxis] > 1 else { return a }
        return try centred(a, along: iAxis)
    }

    /// x − mean of x along `axis` (kept for broadcasting).
    func centred(_ x: Value, along axis: Int) throws -> Value {
        try sub(x, mean(x, axes: [axis], keepDims: true))
    }

    /// The gradient of a rank-2 right operand `b` shared by a batch of row-major left operands
    /// (`linear` on [B, …, M, K] activations): Σ over the batch of aᵢᵀ·dyᵢ is one GEMM over the
    /// batch stacked along the contraction axis, [B·M, K]ᵀ·[B·M, N] (reshapes are views), instead
    /// of B small GEMMs and a sum over their results. nil when the pattern does not apply.
    func batchFoldedWeightGradient(a: Value, b: Value, dy: Value, ta: Bool, tb: Bool) throws -> Value? {
        let sa = shape(a), sb = shape(b), sy = shape(dy)
        guard !ta, sa.count >= 3, sb.count == 2, sy.count == sa.count,
              Array(sa.dropLast(2)) == Array(sy.dropLast(2)) else { return nil }
        let rows = sa.dropLast().reduce(1, *)
        let a2 = try reshape(a, [rows, sa[sa.count - 1]])
        let dy2 = try reshape(dy, [rows, sy[sy.count - 1]])
        // b = [K, N]: db = aᵀ·dy; b = [N, K] (transposed): db = dyᵀ·a
        return tb ? try matmul(dy2, a2, transposeA: true) : try matmul(a2, dy2, transposeA: true)
    }
}
