import Tensor

extension Prep {
    /// The seed's box refinement, `utils.filter_mask(mask > thresh) * scale`: for each mask keep
    /// the largest 4-connected component(s) (``ConnectedComponents/largest()``) and return their
    /// bounding box `[x_min, y_min, x_max, y_max]` as inclusive pixel indices times `scale`
    /// (4 maps the seed's 128×128 coarse masks onto its 512×512 images).
    ///
    /// An empty mask yields the whole image, `[0, 0, (W − 1)·scale, (H − 1)·scale]` (seed quirk).
    ///
    /// - Parameters:
    ///   - masks: `[H, W]`, `[N, H, W]` or `[N, 1, H, W]`; uint8/bool masks count non-zero pixels
    ///     as foreground (already thresholded), float32 maps count pixels `> threshold`.
    ///   - threshold: used for float32 maps only.
    ///   - scale: multiplier from mask pixels to image pixels.
    /// - Returns: int64 `[4]` for one `[H, W]` mask, else `[N, 4]`.
    ///
    /// ```swift
    /// let boxes = try Prep.maskBoxes(prob128, threshold: 0.5)   // [N, 4] int64, 512-pixel frame
    /// ```
    public static func maskBoxes(_ masks: Tensor, threshold: Float = 0.5, scale: Int = 4) throws -> Tensor {
        let place = "Prep.maskBoxes"
        try require(masks, dtypes: [.uint8, .bool, .float32], in: place, what: "masks")
        try require(masks, ranks: 2...4, in: place, what: "masks", layout: "[H, W], [N, H, W] or [N, 1, H, W]")
        if masks.rank == 4 && masks.shape[1] != 1 {
            throw SamdgError(place, "masks [N, C, H, W] must have C = 1, got shape \(ShapeMath.describe(masks.shape))")
        }
        let (h, w) = (masks.shape[masks.rank - 2], masks.shape[masks.rank - 1])
        guard h > 0, w > 0 else {
            throw SamdgError(place, "masks must have H, W ≥ 1, got shape \(ShapeMath.describe(masks.shape))")
        }
        let n = masks.rank == 2 ? 1 : masks.shape[0]
        let foreground: (Int) -> Bool
        if masks.dtype == .float32 {
            let v = masks.floats
            foreground = { v[$0] > threshold }
        } else {
            let v = masks.buffer(UInt8.self)
            foreground = { v[$0] != 0 }
        }
        let out = Tensor(zeros: masks.rank == 2 ? [4] : [n, 4], dtype: .int64)
        let boxes = out.buffer(Int64.self)
        for m in 0..<n {
            let base = m * h * w
            let bits = (0..<(h * w)).map { foreground(base + $0) }
            let keep = ConnectedComponents(foreground: bits, height: h, width: w).largest()
            var (x0, y0, x1, y1) = (w, h, -1, -1)
            for y in 0..<h {
                for x in 0..<w where keep[y * w + x] {
                    x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
                }
            }
            for (k, v) in [x0, y0, x1, y1].enumerated() { boxes[m * 4 + k] = Int64(v * scale) }
        }
        return out
    }
}
