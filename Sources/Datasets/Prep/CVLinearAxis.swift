/// The interpolation table OpenCV's `cv::resize(…, INTER_LINEAR)` builds for one axis.
///
/// For output index `d`, with `scale = 1 / (outSize / inSize)` (in double, as OpenCV does):
///
///     f = (d + 0.5) · scale − 0.5               // half-pixel centres
///     s = ⌊f⌋,  f −= s                          // first tap and its fraction
///     taps (s, s + 1) with weights (1 − f, f)
///
/// The uint8 (fixed-point) tables round `f` to float *before* taking the floor and the fraction,
/// while the float32 tables keep the fraction in double and round it once (`w₁ = Float(f)`,
/// `w₀ = 1 − w₁`): that is what matches the opencv-python 5.0.0 wheel (bit-exact for uint8; for
/// float32 the float-first fraction is off by up to ~2e-6 relative on downscales, the double one
/// by ~1 ulp).
///
/// The two axes treat the border differently, and the uint8 path sees the difference:
/// - horizontally (`clampFraction`), a tap left of 0 or at/after the last column is clamped *and*
///   its fraction zeroed, so the weights become (1, 0);
/// - vertically, only the row indices are clamped; the weights keep the unclamped fraction, so
///   the top row of a 384→512 upscale blends row 0 with itself as (0.125, 0.875).
///
/// uint8 images use the weights in fixed point with `coefBits` = 11 fractional bits
/// (`INTER_RESIZE_COEF_BITS`), each rounded to nearest (ties to even, like `cvRound`).
struct CVLinearAxis {
    /// Fractional bits of the fixed-point weights (OpenCV's INTER_RESIZE_COEF_BITS).
    static let coefBits = 11
    static let coefOne: Int32 = 1 << coefBits

    /// Source indices of the two taps (already clamped into `0..<inSize`).
    let lo: [Int], hi: [Int]
    /// Float weights of the two taps.
    let w0: [Float], w1: [Float]
    /// Fixed-point weights of the two taps (`round(w · 2048)`).
    let q0: [Int32], q1: [Int32]

    /// - Parameter fixedPoint: build the uint8 table (float fraction, `q0`/`q1` meaningful).
    init(inSize: Int, outSize: Int, clampFraction: Bool, fixedPoint: Bool) {
        let scale = 1.0 / (Double(outSize) / Double(inSize))
        var lo = [Int](), hi = [Int](), w0 = [Float](), w1 = [Float]()
        lo.reserveCapacity(outSize); hi.reserveCapacity(outSize)
        w0.reserveCapacity(outSize); w1.reserveCapacity(outSize)
        for d in 0..<outSize {
            let centre = (Double(d) + 0.5) * scale - 0.5
            var s: Int, f: Float
            if fixedPoint {
                let c = Float(centre)
                s = Int(c.rounded(.down))
                f = c - Float(s)
            } else {
                s = Int(centre.rounded(.down))
                f = Float(centre - Double(s))
            }
            if clampFraction {
                if s < 0 { f = 0; s = 0 }
                if s >= inSize - 1 { f = 0; s = inSize - 1 }
            }
            lo.append(min(max(s, 0), inSize - 1))
            hi.append(min(max(s + 1, 0), inSize - 1))
            w0.append(1 - f)
            w1.append(f)
        }
        self.lo = lo; self.hi = hi; self.w0 = w0; self.w1 = w1
        let one = Float(Self.coefOne)
        q0 = w0.map { Int32(($0 * one).rounded(.toNearestOrEven)) }
        q1 = w1.map { Int32(($0 * one).rounded(.toNearestOrEven)) }
    }
}
