import Tensor

extension Prep {
    /// `cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)` for a uint8 or
    /// float32 image `[H, W]` or `[H, W, C]`: output pixel (y, x) copies source pixel
    /// (min(⌊y·H/height⌋, H−1), min(⌊x·W/width⌋, W−1)), the scale taken as OpenCV does
    /// (`1 / (width / W)` in double). Labels stay labels: no value is blended.
    public static func nearestResize(_ image: Tensor, width: Int, height: Int) throws -> Tensor {
        let place = "Prep.nearestResize"
        try require(image, dtypes: [.float32, .uint8], in: place, what: "image")
        try require(image, ranks: 2...3, in: place, what: "image", layout: "[H, W] or [H, W, C]")
        try requireNonEmpty(image, in: place, what: "image")
        guard width > 0, height > 0 else {
            throw SamdgError(place, "output size must be positive, got width \(width), height \(height)")
        }
        let (h, w) = (image.shape[0], image.shape[1])
        let cn = image.rank == 3 ? image.shape[2] : 1
        let out = Tensor(zeros: image.rank == 3 ? [height, width, cn] : [height, width], dtype: image.dtype)
        let ifx = 1 / (Double(width) / Double(w)), ify = 1 / (Double(height) / Double(h))
        let xs = (0..<width).map { min(Int((Double($0) * ifx).rounded(.down)), w - 1) }
        let bytes = image.dtype.size * cn
        let src = image.storage.raw, dst = out.storage.raw
        for y in 0..<height {
            let sy = min(Int((Double(y) * ify).rounded(.down)), h - 1)
            for x in 0..<width {
                (dst + (y * width + x) * bytes).copyMemory(from: src + (sy * w + xs[x]) * bytes, byteCount: bytes)
            }
        }
        return out
    }
}
