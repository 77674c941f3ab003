import Tensor

extension Prep {
    /// The seed's `utils.dice_score(preds, targets)`: one smoothed Dice over the whole batch,
    ///
    ///     (2 · Σ p·t + 1) / (Σ p + Σ t + 1)
    ///
    /// summed in double. `preds` and `targets` must have the same shape (any dtype; the seed
    /// passes 0/1 float32 maps).
    ///
    /// ```swift
    /// let d = try Prep.diceScore(binarisedPreds, labels)   // 1 when they agree exactly
    /// ```
    public static func diceScore(_ preds: Tensor, _ targets: Tensor) throws -> Float {
        guard preds.shape == targets.shape else {
            throw SamdgError("Prep.diceScore", "preds and targets must have the same shape, got \(ShapeMath.describe(preds.shape)) and \(ShapeMath.describe(targets.shape))")
        }
        let p = preds.doubles, t = targets.doubles
        var inter = 0.0, sp = 0.0, st = 0.0
        for i in 0..<p.count { inter += p[i] * t[i]; sp += p[i]; st += t[i] }
        return Float((2 * inter + 1) / (sp + st + 1))
    }
}
