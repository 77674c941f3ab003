import Foundation
import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// F(2×2, 3×3) convolution against a float64 direct convolution: plain and dilated geometry,
/// paddings that leave partial tiles, image sizes that are not multiples of the tile, and the
/// transposed (input-gradient) form.
final class WinogradTests: XCTestCase {
    var rng = SeededRNG(seed: 23)

    /// y[n][k][oy][ox] = Σ x[n][c][oy + d·i − p][ox + d·j − p] · w[k][c][i][j], in Double.
    func direct(_ x: Tensor, _ w: [Double], k: Int, pad p: Int, dilation d: Int) -> (shape: [Int], values: [Double]) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = h + 2 * p - 2 * d, ow = wd + 2 * p - 2 * d
        let xs = x.scalars
        var y = [Double](repeating: 0, count: n * k * oh * ow)
        for b in 0..<n { for ko in 0..<k { for oy in 0..<oh { for ox in 0..<ow {
            var s = 0.0
            for ci in 0..<c { for i in 0..<3 { for j in 0..<3 {
                let iy = oy + d * i - p, ix = ox + d * j - p
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                s += Double(xs[((b * c + ci) * h + iy) * wd + ix]) * w[((ko * c + ci) * 3 + i) * 3 + j]
            } } }
            y[((b * k + ko) * oh + oy) * ow + ox] = s
        } } } }
        return ([n, k, oh, ow], y)
    }

    func relErr(_ a: [Float], _ b: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += (Double(x) - y) * (Double(x) - y); den += y * y }
        return (num / max(den, 1e-300)).squareRoot()
    }

    func testForwardMatchesDirectConvolution() throws {
        // (n, c, k, h, w, pad, dilation)
        let cases = [(2, 5, 7, 9, 11, 1, 1), (1, 3, 4, 8, 8, 0, 1), (1, 4, 6, 12, 10, 2, 2), (2, 3, 5, 17, 13, 4, 4),
                     (1, 2, 3, 7, 9, 1, 2), (1, 6, 2, 5, 5, 2, 1)]
        for (n, c, k, h, wd, p, d) in cases {
            let x = rng.tensor([n, c, h, wd], -1, 1), w = rng.tensor([k, c, 3, 3], -1, 1)
            let ref = direct(x, w.scalars.map(Double.init), k: k, pad: p, dilation: d)
            let y = Tensor(zeros: ref.shape)
            Winograd.forward(x: x, w: w, pad: p, dilation: d, flipped: false, y: y)
            XCTAssertLessThan(relErr(y.scalars, ref.values), 2e-6, "\((n, c, k, h, wd, p, d))")
        }
    }

    /// The flipped form is the input gradient: conv(dy, w′), w′[c][k] = w[k][c] rotated 180°,
    /// padding 2d − p, against the direct formula with w′ built explicitly.
    func testFlippedIsTheTransposedConvolution() throws {
        for (n, c, k, h, p, d) in [(2, 5, 6, 10, 1, 1), (1, 4, 3, 13, 2, 2), (1, 3, 3, 9, 0, 1)] {
            let w = rng.tensor([k, c, 3, 3], -1, 1)          // the forward conv's weight: c → k
            let oh = h + 2 * p - 2 * d
            let dy = rng.tensor([n, k, oh, oh], -1, 1)
            var wt = [Double](repeating: 0, count: c * k * 9)  // w′ [c, k, 3, 3]
            for ko in 0..<k { for ci in 0..<c { for i in 0..<9 { wt[(ci * k + ko) * 9 + i] = Double(w.scalars[(ko * c + ci) * 9 + 8 - i]) } } }
            let ref = direct(dy, wt, k: c, pad: 2 * d - p, dilation: d)
            XCTAssertEqual(ref.shape, [n, c, h, h])
            let dx = Tensor(zeros: ref.shape)
            Winograd.forward(x: dy, w: w, pad: 2 * d - p, dilation: d, flipped: true, y: dx)
            XCTAssertLessThan(relErr(dx.scalars, ref.values), 2e-6, "\((n, c, k, h, p, d))")
        }
    }

    /// The weight gradient Σ dy ⊗ patch against float64, with partial tiles at the edges and
    /// more tiles than one chunk (so S accumulates across chunks).
    func testBackwardWeightMatchesDirect() throws {
        for (n, c, k, h, p, d) in [(2, 5, 6, 9, 1, 1), (1, 4, 3, 14, 2, 2), (2, 3, 4, 11, 0, 1), (3, 70, 66, 40, 1, 1)] {
            let x = rng.tensor([n, c, h, h], -1, 1)
            let oh = h + 2 * p - 2 * d
            let dy = rng.tensor([n, k, oh, oh], -1, 1)
            var ref = [Double](repeating: 0, count: k * c * 9)
            let xs = x.scalars, ys = dy.scalars
            for b in 0..<n { for ko in 0..<k { for oy in 0..<oh { for ox in 0..<oh {
                let gy = Double(ys[((b * k + ko) * oh + oy) * oh + ox])
                for ci in 0..<c { for i in 0..<3 { for j in 0..<3 {
                    let iy = oy + d * i - p, ix = ox + d * j - p
                    if iy < 0 || iy >= h || ix < 0 || ix >= h { continue }
                    ref[((ko * c + ci) * 3 + i) * 3 + j] += gy * Double(xs[((b * c + ci) * h + iy) * h + ix])
                } } }
            } } } }
            let dw = Tensor(zeros: [k, c, 3, 3])
            Winograd.backwardWeight(x: x, dy: dy, pad: p, dilation: d, dw: dw)
            XCTAssertLessThan(relErr(dw.scalars, ref), 2e-6, "\((n, c, k, h, p, d))")
        }
    }

    /// On a DeepLab-sized layer (256 → 256 channels, dilation 2) the error against float64 stays
    /// within 4× im2col's, and both are float32 rounding.
    func testErrorComparableToIm2col() throws {
        let (c, k, h, p, d) = (256, 64, 16, 2, 2)
        let x = rng.tensor([1, c, h, h], -1, 1), w = rng.tensor([k, c, 3, 3], -0.1, 0.1)
        let ref = direct(x, w.scalars.map(Double.init), k: k, pad: p, dilation: d)
        let yw = Tensor(zeros: ref.shape), yi = Tensor(zeros: ref.shape)
        Winograd.forward(x: x, w: w, pad: p, dilation: d, flipped: false, y: yw)
        ConvKernels.forward(x, w, ConvGeometry(padding: p, dilation: d), yi, winograd: false)
        let ew = relErr(yw.scalars, ref.values), ei = relErr(yi.scalars, ref.values)
        XCTAssertLessThan(ew, 1e-6); XCTAssertLessThan(ew, 4 * ei + 1e-7, "winograd \(ew) vs im2col \(ei)")
    }
}

/// DeepLab-R18-sized layers (the demo's: batch 8, 128² input at output stride 8), Winograd
/// against im2col for the forward, input-gradient and weight-gradient kernels.
final class WinogradLayerTests: XCTestCase {
    func testDeepLabLayersAgreeWithIm2col() throws {
        var rng = SeededRNG(seed: 31)
        for (n, c, k, h, p, d) in [(8, 64, 64, 32, 1, 1), (8, 128, 128, 16, 1, 1), (8, 256, 256, 16, 2, 2), (8, 512, 512, 16, 4, 4),
                                   (2, 96, 80, 23, 1, 1), (4, 256, 256, 8, 4, 4), (4, 256, 256, 8, 2, 2), (4, 64, 64, 16, 1, 1)] {
            let g = ConvGeometry(padding: p, dilation: d)
            let x = rng.tensor([n, c, h, h]), w = rng.tensor([k, c, 3, 3], -0.05, 0.05)
            let oh = h + 2 * p - 2 * d
            let dy = rng.tensor([n, k, oh, oh])
            XCTAssertTrue(Winograd.suits(x: x.shape, w: w.shape, y: dy.shape, g))
            let y1 = Tensor(zeros: [n, k, oh, oh]), y2 = Tensor(zeros: [n, k, oh, oh])
            ConvKernels.forward(x, w, g, y1); ConvKernels.forward(x, w, g, y2, winograd: false)
            XCTAssertLessThan(relativeL2(y1.scalars, y2.scalars), 1e-5, "forward \((n, c, k, h, p, d))")
            let dx1 = Tensor(zeros: x.shape), dx2 = Tensor(zeros: x.shape)
            ConvKernels.backwardInput(dy, w, g, dx1); ConvKernels.backwardInput(dy, w, g, dx2, winograd: false)
            XCTAssertLessThan(relativeL2(dx1.scalars, dx2.scalars), 1e-5, "input gradient \((n, c, k, h, p, d))")
            let dw1 = Tensor(zeros: w.shape), dw2 = Tensor(zeros: w.shape)
            ConvKernels.backwardWeight(x, dy, g, dw1); ConvKernels.backwardWeight(x, dy, g, dw2, winograd: false)
            XCTAssertLessThan(relativeL2(dw1.scalars, dw2.scalars), 1e-5, "weight gradient \((n, c, k, h, p, d))")
        }
    }
}
