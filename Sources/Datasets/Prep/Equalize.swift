import Tensor

extension Prep {
    /// `torchvision.transforms.functional.equalize` on a uint8 tensor `[…, H, W]`: every H×W
    /// plane (each channel of each image) gets its own histogram and lookup table.
    ///
    /// For one plane with histogram `hist` (256 bins):
    ///
    ///     step = (Σ hist − hist[last non-empty bin]) // 255
    ///     step == 0  →  the plane is returned unchanged
    ///     lut[0] = 0,  lut[i] = min((cumsum(hist)[i − 1] + step // 2) // step, 255)
    ///     out = lut[in]
    ///
    /// Example (a 3×3 plane holding 0 ×3, 128 ×3, 255 ×3): step = 6 // 255 = 0, so unchanged; see
    /// DataTests for a worked case with step > 0.
    public static func equalize(_ image: Tensor) throws -> Tensor {
        let place = "Prep.equalize"
        try require(image, dtypes: [.uint8], in: place, what: "image")
        try require(image, ranks: 2...Int.max, in: place, what: "image", layout: "[…, H, W] uint8 planes")
        let planeSize = image.shape[image.rank - 2] * image.shape[image.rank - 1]
        let out = image.copy()
        guard planeSize > 0 else { return out }
        let dst = out.buffer(UInt8.self)
        for start in stride(from: 0, to: image.count, by: planeSize) {
            let plane = UnsafeMutableBufferPointer(rebasing: dst[start..<(start + planeSize)])
            equalizePlane(plane)
        }
        return out
    }

    /// Equalises one plane in place.
    private static func equalizePlane(_ p: UnsafeMutableBufferPointer<UInt8>) {
        var hist = [Int](repeating: 0, count: 256)
        for v in p { hist[Int(v)] += 1 }
        guard let last = hist.lastIndex(where: { $0 != 0 }) else { return }
        let step = (p.count - hist[last]) / 255
        if step == 0 { return }
        var lut = [UInt8](repeating: 0, count: 256)
        var cum = 0
        for i in 1..<256 {
            cum += hist[i - 1]
            lut[i] = UInt8(min((cum + step / 2) / step, 255))
        }
        for i in 0..<p.count { p[i] = lut[Int(p[i])] }
    }
}
