import Foundation
import Tensor

/// Layer normalisation over one axis in one kernel: y = (x − μ)·(σ² + eps)^−½ (·w) (+ b), with μ
/// and σ² the mean and (biased) variance along the axis — PyTorch's `layer_norm` over the last
/// axis, and segment-anything's `LayerNorm2d` over the channels of NCHW.
///
/// x is viewed as [outer, C, inner] with the normalised axis C; w and b hold C values.
///
/// ```
///   inner = 1 (rows contiguous):  per row — Σx, then Σ(x − μ)², then the affine write:
///                                 three SIMD sweeps over an L1-resident row
///   inner > 1 (channels strided): per outer and 16 columns — the same three sweeps down C,
///                                 one vector of 16 columns at a time (one cache line per load)
/// ```
///
/// Two-pass centred variance, as the unfused graph computes it (never E[x²] − μ²). Rows or
/// column blocks are split over the workers.
public enum LayerNormKernel {
    typealias V = SIMD16<Float>

    public static func apply(axis: Int, eps: Float, _ x: Tensor, weight: Tensor?, bias: Tensor?, _ out: Tensor) {
        let s = x.shape
        let a = axis < 0 ? axis + s.count : axis
        let c = s[a], outer = ShapeMath.count(Array(s[..<a])), inner = ShapeMath.count(Array(s[(a + 1)...]))
        guard c > 0, out.count > 0 else { return }
        let xp = UnsafePointer(x.ptr), yp = out.ptr
        let wp = weight.map { UnsafePointer($0.ptr) }, bp = bias.map { UnsafePointer($0.ptr) }
        if inner == 1 {
            Parallel.forChunks(outer, grain: max(1, 8192 / c)) { rows in
                for r in rows { row(xp + r * c, yp + r * c, c, eps, wp, bp) }
            }
        } else {
            let blocks = (inner + 15) / 16
            Parallel.forChunks(outer * blocks, grain: max(1, 8192 / c)) { range in
                for t in range {
                    let o = t / blocks, j = (t % blocks) * 16
                    columns(xp + o * c * inner + j, yp + o * c * inner + j, c, inner, min(16, inner - j), eps, wp, bp)
                }
            }
        }
    }

    @inline(__always)
    static func row(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ c: Int, _ eps: Float,
                    _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?) {
        var acc = V(), i = 0
        while i + 16 <= c { acc += load16(x + i); i += 16 }
        var sum = VMath.hsum(acc)
        for j in i..<c { sum += x[j] }
        let mean = sum / Float(c)
        let mv = V(repeating: mean)
        acc = V(); i = 0
        while i + 16 <= c { let d = load16(x + i) - mv; acc += d * d; i += 16 }
        var sq = VMath.hsum(acc)
        for j in i..<c { let d = x[j] - mean; sq += d * d }
        let rstd = 1 / (sq / Float(c) + eps).squareRoot()
        let rv = V(repeating: rstd)
        i = 0
        while i + 16 <= c {
            var v = (load16(x + i) - mv) * rv
            if let w { v *= load16(w + i) }
            if let b { v += load16(b + i) }
            store16(v, y + i)
            i += 16
        }
        for j in i..<c {
            var v = (x[j] - mean) * rstd
            if let w { v *= w[j] }
            if let b { v += b[j] }
            y[j] = v
        }
    }

    /// `n` ≤ 16 adjacent columns of a channel-strided block (stride `inner` between channels).
    @inline(__always)
    static func columns(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ c: Int, _ inner: Int, _ n: Int,
                        _ eps: Float, _ w: UnsafePointer<Float>?, _ b: UnsafePointer<Float>?) {
        if n < 16 {   // ragged edge: scalar columns
            for j in 0..<n {
                var sum: Float = 0
                for k in 0..<c { sum += x[k * inner + j] }
                let mean = sum / Float(c)
                var sq: Float = 0
                for k in 0..<c { let d = x[k * inner + j] - mean; sq += d * d }
                let rstd = 1 / (sq / Float(c) + eps).squareRoot()
                for k in 0..<c {
                    var v = (x[k * inner + j] - mean) * rstd
                    if let w { v *= w[k] }
                    if let b { v += b[k] }
                    y[k * inner + j] = v
                }
            }
            return
        }
        var acc = V()
        for k in 0..<c { acc += load16(x + k * inner) }
        let mean = acc / Float(c)
        var sq = V()
        for k in 0..<c { let d = load16(x + k * inner) - mean; sq += d * d }
        let rstd = 1 / (sq / Float(c) + eps).squareRoot()
        for k in 0..<c {
            var v = (load16(x + k * inner) - mean) * rstd
            if let w { v *= V(repeating: w[k]) }
            if let b { v += V(repeating: b[k]) }
            store16(v, y + k * inner)
        }
    }
}
