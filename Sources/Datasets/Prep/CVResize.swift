import Tensor

extension Prep {
    /// `cv2.resize(image, (width, height))` with the default `INTER_LINEAR`, for a float32 or
    /// uint8 image laid out H×W or H×W×C (channels interleaved, as NumPy hands them to OpenCV).
    ///
    /// The result matches OpenCV's generic separable path: a horizontal pass over each needed
    /// source row, then a vertical blend of two rows (tables in ``CVLinearAxis``).
    /// - float32: both passes in float, each as one fused multiply–add, `fma(p₁, a₁, p₀·a₀)`
    ///   (within ~1 ulp of OpenCV, whose SIMD kernels round slightly differently).
    /// - uint8: the horizontal pass is exact in integers, `h = p₀·a₀ + p₁·a₁` with 11-bit weights
    ///   (so `h` carries 11 fractional bits); the vertical pass is OpenCV's int16 SIMD kernel, which
    ///   truncates on the way, `v = ((h₀ ≫ 4)·b₀ ≫ 16) + ((h₁ ≫ 4)·b₁ ≫ 16)`, `y = sat((v + 2) ≫ 2)`,
    ///   for every element, row tails included. (Checked against the opencv-python 5.0.0 wheel
    ///   on odd widths and channel counts; the textbook `(h₀·b₀ + h₁·b₁ + 2²¹) ≫ 22` differs by
    ///   one in a few percent of pixels, e.g. where the exact value is k + ½.)
    ///
    /// Same-size calls return a copy, as `cv2.resize` does. A 2× downscale on both axes, which
    /// OpenCV routes to its `INTER_AREA` kernel, agrees with this path (exactly for uint8; to
    /// float rounding for float32).
    ///
    /// - Parameters:
    ///   - image: float32 or uint8, `[H, W]` or `[H, W, C]`.
    ///   - width: output width (cv2's `dsize[0]`).
    ///   - height: output height (cv2's `dsize[1]`).
    /// - Returns: the same dtype and layout with H×W replaced by `height`×`width`.
    ///
    /// ```swift
    /// let big = try Prep.cvResize(mask384, width: 512, height: 512)   // uint8 [512, 512]
    /// ```
    public static func cvResize(_ image: Tensor, width: Int, height: Int) throws -> Tensor {
        let place = "Prep.cvResize"
        try require(image, dtypes: [.float32, .uint8], in: place, what: "image")
        try require(image, ranks: 2...3, in: place, what: "image", layout: "[H, W] or [H, W, C]")
        try requireNonEmpty(image, in: place, what: "image")
        guard width > 0, height > 0 else {
            throw SamdgError(place, "output size must be positive, got width \(width), height \(height)")
        }
        let (h, w) = (image.shape[0], image.shape[1])
        let cn = image.rank == 3 ? image.shape[2] : 1
        let outShape = image.rank == 3 ? [height, width, cn] : [height, width]
        if h == height && w == width { return image.copy() }

        let fixedPoint = image.dtype == .uint8
        let xs = CVLinearAxis(inSize: w, outSize: width, clampFraction: true, fixedPoint: fixedPoint)
        let ys = CVLinearAxis(inSize: h, outSize: height, clampFraction: false, fixedPoint: fixedPoint)
        let out = Tensor(zeros: outShape, dtype: image.dtype)
        if image.dtype == .float32 {
            resizeFloat(image.buffer(Float.self), out.buffer(Float.self), h: h, w: w, cn: cn, xs: xs, ys: ys)
        } else {
            resizeUInt8(image.buffer(UInt8.self), out.buffer(UInt8.self), h: h, w: w, cn: cn, xs: xs, ys: ys)
        }
        return out
    }

    /// Horizontal pass of every source row: `rows[r][dx·cn + c]`.
    private static func horizontal<S, A: Numeric>(_ src: UnsafeMutableBufferPointer<S>, h: Int, w: Int, cn: Int,
                                                   xs: CVLinearAxis, a0: [A], a1: [A], widen: (S) -> A,
                                                   mac: (A, A, A, A) -> A) -> [A] {
        let ow = xs.lo.count, rowLen = ow * cn
        var rows = [A](repeating: 0, count: h * rowLen)
        for r in 0..<h {
            let s = r * w * cn, d = r * rowLen
            for dx in 0..<ow {
                let p0 = s + xs.lo[dx] * cn, p1 = s + xs.hi[dx] * cn
                for c in 0..<cn {
                    rows[d + dx * cn + c] = mac(widen(src[p0 + c]), a0[dx], widen(src[p1 + c]), a1[dx])
                }
            }
        }
        return rows
    }

    private static func resizeFloat(_ src: UnsafeMutableBufferPointer<Float>, _ dst: UnsafeMutableBufferPointer<Float>,
                                    h: Int, w: Int, cn: Int, xs: CVLinearAxis, ys: CVLinearAxis) {
        let rows = horizontal(src, h: h, w: w, cn: cn, xs: xs, a0: xs.w0, a1: xs.w1, widen: { $0 },
                              mac: { p0, a0, p1, a1 in (p0 * a0).addingProduct(p1, a1) })
        let rowLen = xs.lo.count * cn
        for dy in 0..<ys.lo.count {
            let r0 = ys.lo[dy] * rowLen, r1 = ys.hi[dy] * rowLen, o = dy * rowLen
            let b0 = ys.w0[dy], b1 = ys.w1[dy]
            for x in 0..<rowLen { dst[o + x] = (rows[r0 + x] * b0).addingProduct(rows[r1 + x], b1) }
        }
    }

    private static func resizeUInt8(_ src: UnsafeMutableBufferPointer<UInt8>, _ dst: UnsafeMutableBufferPointer<UInt8>,
                                    h: Int, w: Int, cn: Int, xs: CVLinearAxis, ys: CVLinearAxis) {
        let rows = horizontal(src, h: h, w: w, cn: cn, xs: xs, a0: xs.q0, a1: xs.q1, widen: { Int32($0) },
                              mac: { p0, a0, p1, a1 in p0 * a0 + p1 * a1 })
        let rowLen = xs.lo.count * cn
        for dy in 0..<ys.lo.count {
            let r0 = ys.lo[dy] * rowLen, r1 = ys.hi[dy] * rowLen, o = dy * rowLen
            let b0 = ys.q0[dy], b1 = ys.q1[dy]
            for x in 0..<rowLen {
                // int16 lanes: h ≫ 4 fits in int16 (≤ 255·2048/16); mul_hi keeps the top half of the product.
                let v = ((((rows[r0 + x] >> 4) * b0) >> 16) + (((rows[r1 + x] >> 4) * b1) >> 16) + 2) >> 2
                dst[o + x] = UInt8(clamping: v)
            }
        }
    }
}
