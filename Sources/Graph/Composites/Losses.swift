import Tensor

/// Losses as graphs of primitives (MONAI / PyTorch semantics), all returning a scalar.
extension Graph {
    /// `nn.BCEWithLogitsLoss()` (mean): softplus(x) − x·t.
    public func bceWithLogits(_ logits: Value, _ target: Value) throws -> Value {
        try meanAll(sub(unary(.softplus, logits), mul(logits, target)))
    }

    /// `nn.BCELoss()` (mean) on probabilities, with PyTorch's clamp of each log at −100.
    ///
    /// A saturated probability (exactly 0 or 1) would make the log's VJP divide by zero; its
    /// argument is first kept ≥ the smallest positive float, which changes no forward value
    /// (log of it is below −100 anyway) and makes those gradients 0 instead of NaN.
    public func bce(_ p: Value, _ target: Value) throws -> Value {
        let tiny = Float.leastNonzeroMagnitude
        let logP = try unary(.clamp(lo: -100, hi: .infinity), log(unary(.clamp(lo: tiny, hi: .infinity), p)))
        let log1mP = try unary(.clamp(lo: -100, hi: .infinity), log(unary(.clamp(lo: tiny, hi: .infinity), affine(p, scale: -1, shift: 1))))
        let oneMinusT = try affine(target, scale: -1, shift: 1)
        return try affine(meanAll(add(mul(target, logP), mul(oneMinusT, log1mP))), scale: -1)
    }

    /// MONAI `DiceLoss(squared_pred=True, reduction='mean')` on already-activated predictions
    /// [N, C, spatial…]: 1 − (2·Σp·t + 1e-5) / (Σp² + Σt² + 1e-5) per (n, c), averaged.
    public func squaredDiceLoss(_ p: Value, _ target: Value, smooth: Float = 1e-5) throws -> Value {
        let axes = Array(2..<shape(p).count)
        let inter = try sum(mul(p, target), axes: axes)
        let den = try add(sum(square(p), axes: axes), sum(square(target), axes: axes))
        let ratio = try div(affine(inter, scale: 2, shift: smooth), affine(den, scale: 1, shift: smooth))
        return try meanAll(affine(ratio, scale: -1, shift: 1))
    }

    /// MONAI `DiceCELoss(sigmoid=True, squared_pred=True)` for one channel: Dice on sigmoid(x)
    /// plus `BCEWithLogitsLoss` on x.
    public func diceCELoss(_ logits: Value, _ target: Value) throws -> Value {
        try add(squaredDiceLoss(sigmoid(logits), target), bceWithLogits(logits, target))
    }

    /// The seed's stage-1 loss: p = sigmoid(x); `DiceCELoss(sigmoid=False, squared_pred=True)(p, t)`
    /// (whose CE term applies BCE-with-logits to p itself) + `BCELoss()(p, t)`.
    public func stage1Loss(_ logits: Value, _ target: Value) throws -> Value {
        let p = try sigmoid(logits)
        return try add(add(squaredDiceLoss(p, target), bceWithLogits(p, target)), bce(p, target))
    }
}
