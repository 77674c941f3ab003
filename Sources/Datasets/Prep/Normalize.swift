import Tensor

extension Prep {
    /// The three stages of the seed's intensity normalisation (`Prostate.__getitem__`).
    public struct NormalizedImage {
        /// `round((x − min)/(max − min) · 255)` as uint8, same shape as the input.
        public let uint8: Tensor
        /// ``Prep/equalize(_:)`` of `uint8`.
        public let equalized: Tensor
        /// `equalized / 255` as float32: what the network sees.
        public let image: Tensor
    }

    /// The seed's normalisation of a float32 image (any layout; the seed passes C×H×W):
    /// min–max scaling over the whole tensor, rounding to uint8, per-plane histogram
    /// equalisation, then back to [0, 1].
    ///
    /// ```swift
    /// let n = try Prep.normalizeEqualize(imageCHW)   // n.image: float32 in [0, 1]
    /// ```
    public static func normalizeEqualize(_ image: Tensor) throws -> NormalizedImage {
        let u = try minMaxToUInt8(image)
        let e = try equalize(u)
        let out = Tensor(zeros: e.shape)
        let src = e.buffer(UInt8.self), dst = out.floats
        for i in 0..<e.count { dst[i] = Float(src[i]) / 255 }
        return NormalizedImage(uint8: u, equalized: e, image: out)
    }

    /// `x = (img − img.min()) / (img.max() − img.min()); round(x · 255).to(uint8)`, in float32
    /// like the seed's torch code, rounding half to even (`torch.round`).
    ///
    /// A constant image (max == min), where torch divides 0 by 0, gives all zeros.
    public static func minMaxToUInt8(_ image: Tensor) throws -> Tensor {
        let place = "Prep.minMaxToUInt8"
        try require(image, dtypes: [.float32], in: place, what: "image")
        guard image.count > 0 else {
            throw SamdgError(place, "image must have at least one element, got shape \(ShapeMath.describe(image.shape))")
        }
        let x = image.floats
        var lo = x[0], hi = x[0]
        for v in x { lo = min(lo, v); hi = max(hi, v) }
        guard lo.isFinite, hi.isFinite else {
            throw SamdgError(place, "image must be finite, got min \(lo), max \(hi)")
        }
        let out = Tensor(zeros: image.shape, dtype: .uint8)
        let range = hi - lo
        guard range > 0 else { return out }
        let dst = out.buffer(UInt8.self)
        for i in 0..<image.count {
            let z = (x[i] - lo) / range
            dst[i] = UInt8((z * 255).rounded(.toNearestOrEven))
        }
        return out
    }
}
