import Kernels
import Primitives
import Tensor

extension Prep {
    /// torchvision `Resize(size)` with an integer size on a float32 tensor `[…, H, W]`:
    /// the shorter side becomes `size`, the longer one `int(size · long / short)` (truncated, as
    /// torchvision computes it), then bilinear interpolation with antialias
    /// (`align_corners=False`, the torchvision ≥ 0.17 default), done by ``ResizeKernels``.
    ///
    /// ```swift
    /// let p128 = try Prep.resizeShorterSide(prob, to: 128)   // [1, 512, 768] → [1, 128, 192]
    /// ```
    public static func resizeShorterSide(_ x: Tensor, to size: Int) throws -> Tensor {
        let place = "Prep.resizeShorterSide"
        try require(x, dtypes: [.float32], in: place, what: "input")
        try require(x, ranks: 2...Int.max, in: place, what: "input", layout: "[…, H, W]")
        try requireNonEmpty(x, in: place, what: "input")
        guard size > 0 else { throw SamdgError(place, "size must be positive, got \(size)") }
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let (oh, ow) = shorterSideSize(height: h, width: w, size: size)
        guard oh > 0, ow > 0 else {
            throw SamdgError(place, "resizing \(h)×\(w) to shorter side \(size) gives an empty \(oh)×\(ow) output")
        }
        let y = Tensor(zeros: Array(x.shape.dropLast(2)) + [oh, ow])
        ResizeKernels.forward(x, ResizeSpec(height: oh, width: ow, alignCorners: false, antialias: true), y)
        return y
    }

    /// torchvision's output size for `Resize(size)` with an int: `(height, width)`.
    public static func shorterSideSize(height h: Int, width w: Int, size: Int) -> (height: Int, width: Int) {
        let (short, long) = w <= h ? (w, h) : (h, w)
        let newLong = Int(Double(size * long) / Double(short))
        return w <= h ? (newLong, size) : (size, newLong)
    }
}
