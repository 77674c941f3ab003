import Tensor

/// Normalisation layers built from primitive ops, so their gradients come from the primitives'
/// VJPs. The compiler's fusion pass turns each into one kernel.
extension Graph {
    /// Result of a training-mode batch norm: the output and the updated running statistics.
    public struct BatchNormResult { public let y, runningMean, runningVar: Value }

    /// PyTorch `F.batch_norm(training=True)` on NCHW (or NC): batch statistics normalise `x`;
    /// the running statistics move by `momentum` toward the batch mean and the *unbiased* variance.
    public func batchNormTrain(_ x: Value, weight: Value?, bias: Value?, runningMean: Value, runningVar: Value,
                               momentum: Float = 0.1, eps: Float = 1e-5) throws -> BatchNormResult {
        let s = shape(x)
        let axes = [0] + Array(2..<s.count)
        let n = axes.reduce(1) { $0 * s[$1] }
        let mu = try mean(x, axes: axes, keepDims: true)
        let xc = try sub(x, mu)
        let v = try mean(square(xc), axes: axes, keepDims: true)
        // xc · (rsqrt(v + eps) · γ) + β: the per-channel factor is formed first, so backward keeps
        // only xc (which the variance's gradient needs anyway) and no normalised copy of it.
        let c = s[1]
        var cs = [Int](repeating: 1, count: s.count); cs[1] = c
        let rstd = try rsqrt(affine(v, scale: 1, shift: eps))
        var y = try mul(xc, weight.map { try mul(rstd, reshape($0, cs)) } ?? rstd)
        if let b = bias { y = try add(y, reshape(b, cs)) }
        let newMean = try add(affine(runningMean, scale: 1 - momentum), affine(reshape(mu, [c]), scale: momentum))
        let unbiased = Float(n) / Float(max(n - 1, 1))
        let newVar = try add(affine(runningVar, scale: 1 - momentum), affine(reshape(v, [c]), scale: momentum * unbiased))
        return BatchNormResult(y: y, runningMean: newMean, runningVar: newVar)
    }

    /// PyTorch `F.batch_norm(training=False)`: running statistics normalise `x`.
    public func batchNormEval(_ x: Value, weight: Value?, bias: Value?, runningMean: Value, runningVar: Value,
                              eps: Float = 1e-5) throws -> Value {
        let s = shape(x)
        var cs = [Int](repeating: 1, count: s.count); cs[1] = s[1]
        let xc = try sub(x, reshape(runningMean, cs))
        return try normalizeAffine(xc, variance: reshape(runningVar, cs), eps: eps, weight: weight, bias: bias, channelAxis: 1)
    }

    /// PyTorch `F.layer_norm` over the last axis.
    public func layerNorm(_ x: Value, weight: Value?, bias: Value?, eps: Float = 1e-5) throws -> Value {
        let r = shape(x).count
        let mu = try mean(x, axes: [r - 1], keepDims: true)
        let xc = try sub(x, mu)
        let v = try mean(square(xc), axes: [r - 1], keepDims: true)
        return try normalizeAffine(xc, variance: v, eps: eps, weight: weight, bias: bias, channelAxis: r - 1)
    }

    /// segment-anything `LayerNorm2d`: layer norm over the channel axis of NCHW.
    public func layerNorm2d(_ x: Value, weight: Value?, bias: Value?, eps: Float = 1e-6) throws -> Value {
        let mu = try mean(x, axes: [1], keepDims: true)
        let xc = try sub(x, mu)
        let v = try mean(square(xc), axes: [1], keepDims: true)
        return try normalizeAffine(xc, variance: v, eps: eps, weight: weight, bias: bias, channelAxis: 1)
    }

    /// xc · rsqrt(variance + eps) · weight + bias, with weight/bias laid along `channelAxis`.
    func normalizeAffine(_ xc: Value, variance: Value, eps: Float, weight: Value?, bias: Value?, channelAxis: Int) throws -> Value {
        let s = shape(xc)
        var cs = [Int](repeating: 1, count: s.count); cs[channelAxis] = s[channelAxis]
        var y = try mul(xc, rsqrt(affine(variance, scale: 1, shift: eps)))
        if let w = weight { y = try mul(y, reshape(w, cs)) }
        if let b = bias { y = try add(y, reshape(b, cs)) }
        return y
    }
}
