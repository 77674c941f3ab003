import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// Dilated convolutions by regions of shared valid taps (`TapRegions`): the bands of a
/// hand-worked axis, then forward, input gradient and weight gradient against float64 direct
/// loops on geometries where most taps read padding, and the kernels' choice of it.
final class TapRegionsTests: XCTestCase {
    var rng = SeededRNG(seed: 97)

    /// ASPP's dilation 24 on a 32-wide axis: tap 0 reads y − 24 (inside for y ≥ 24), tap 1 y,
    /// tap 2 y + 24 (inside for y < 8): bands [0, 8) taps 1–2, [8, 24) tap 1, [24, 32) taps 0–1.
    func testBandsOfAHandWorkedAxis() {
        let b = TapRegions.bands(out: 32, inp: 32, k: 3, pad: 24, dilation: 24)
        XCTAssertEqual(b, [.init(lo: 0, hi: 8, first: 1, count: 2), .init(lo: 8, hi: 24, first: 1, count: 1),
                           .init(lo: 24, hi: 32, first: 0, count: 2)])
        // 48 of 96 tap-rows per axis: a quarter of im2col's multiply-adds
        XCTAssertEqual(TapRegions.validFraction(x: [1, 1, 32, 32], w: [1, 1, 3, 3], y: [1, 1, 32, 32], ConvGeometry(padding: 24, dilation: 24)),
                       0.25, accuracy: 1e-12)
    }

    func reference(_ x: Tensor, _ w: Tensor, _ g: ConvGeometry, oh: Int, ow: Int) -> [Double] {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), (k, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        var y = [Double](repeating: 0, count: n * k * oh * ow)
        for b in 0..<n { for o in 0..<k { for oy in 0..<oh { for ox in 0..<ow {
            var s = 0.0
            for ci in 0..<c { for i in 0..<kh { for j in 0..<kw {
                let iy = oy - g.padH + i * g.dilationH, ix = ox - g.padW + j * g.dilationW
                if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                    s += Double(x.floats[((b * c + ci) * h + iy) * wd + ix]) * Double(w.floats[((o * c + ci) * kh + i) * kw + j])
                }
            } } }
            y[((b * k + o) * oh + oy) * ow + ox] = s
        } } } }
        return y
    }

    func testForwardAndGradientsAgainstDirectLoops() throws {
        // (n, c, k, h, w, kernel, pad, dilation): ASPP-like "same" convs, uneven sizes, a
        // rectangular kernel's worth of asymmetry via unequal H and W, and an output smaller than the input
        let cases: [(Int, Int, Int, Int, Int, Int, (Int, Int), (Int, Int))] = [
            (2, 5, 7, 8, 8, 3, (6, 6), (6, 6)), (1, 4, 3, 9, 13, 3, (5, 7), (5, 7)), (2, 3, 6, 10, 7, 3, (4, 4), (4, 4)),
            (1, 6, 4, 11, 11, 5, (6, 6), (3, 3)), (2, 3, 5, 12, 9, 3, (2, 5), (4, 5)),
        ]
        for (n, c, k, h, wd, ks, pad, dil) in cases {
            let g = ConvGeometry(strideH: 1, strideW: 1, padH: pad.0, padW: pad.1, dilationH: dil.0, dilationW: dil.1, groups: 1)
            let oh = ConvGeometry.outExtent(h, kernel: ks, stride: 1, pad: pad.0, dilation: dil.0)
            let ow = ConvGeometry.outExtent(wd, kernel: ks, stride: 1, pad: pad.1, dilation: dil.1)
            let what = "n \(n) c \(c) k \(k) \(h)×\(wd) k\(ks) pad \(pad) dil \(dil)"
            let x = rng.tensor([n, c, h, wd]), w = rng.tensor([k, c, ks, ks]), dy = rng.tensor([n, k, oh, ow])
            XCTAssertLessThan(TapRegions.validFraction(x: x.shape, w: w.shape, y: dy.shape, g), 0.8, what)
            // forward
            let y = Tensor(zeros: [n, k, oh, ow])
            TapRegions.forward(x: x, w: w, g, y: y)
            let ry = reference(x, w, g, oh: oh, ow: ow)
            XCTAssertLessThan(relativeL2(y.scalars, ry.map(Float.init)), 1e-6, "forward " + what)
            // weight gradient: dW[o, ci, i, j] = Σ dy[b, o, oy, ox]·x[b, ci, oy − p + i·d, ox − p + j·d]
            let dw = Tensor(zeros: w.shape)
            TapRegions.backwardWeight(x: x, dy: dy, g, dw: dw)
            var rdw = [Double](repeating: 0, count: w.count)
            for b in 0..<n { for o in 0..<k { for ci in 0..<c { for i in 0..<ks { for j in 0..<ks {
                var s = 0.0
                for oy in 0..<oh { for ox in 0..<ow {
                    let iy = oy - pad.0 + i * dil.0, ix = ox - pad.1 + j * dil.1
                    if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                        s += Double(dy.floats[((b * k + o) * oh + oy) * ow + ox]) * Double(x.floats[((b * c + ci) * h + iy) * wd + ix])
                    }
                } }
                rdw[((o * c + ci) * ks + i) * ks + j] += s
            } } } } }
            XCTAssertLessThan(relativeL2(dw.scalars, rdw.map(Float.init)), 1e-6, "weight gradient " + what)
            // input gradient: the adjoint of the forward, <dy, conv(x)> = <dx, x> for every x
            let dx = Tensor(zeros: x.shape)
            TapRegions.backwardInput(dy: dy, w: w, g, dx: dx)
            var rdx = [Double](repeating: 0, count: x.count)
            for b in 0..<n { for o in 0..<k { for oy in 0..<oh { for ox in 0..<ow {
                let gy = Double(dy.floats[((b * k + o) * oh + oy) * ow + ox])
                for ci in 0..<c { for i in 0..<ks { for j in 0..<ks {
                    let iy = oy - pad.0 + i * dil.0, ix = ox - pad.1 + j * dil.1
                    if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                        rdx[((b * c + ci) * h + iy) * wd + ix] += gy * Double(w.floats[((o * c + ci) * ks + i) * ks + j])
                    }
                } } }
            } } } }
            XCTAssertLessThan(relativeL2(dx.scalars, rdx.map(Float.init)), 1e-6, "input gradient " + what)
        }
    }

    /// The conv kernels take the regions where most taps read padding (ASPP at dilation 24 on
    /// 32×32, below even Winograd's bar) and not where few do; both paths agree.
    func testKernelsChooseRegionsByValidShare() {
        let aspp = ConvGeometry(padding: 24, dilation: 24), mild = ConvGeometry(padding: 2, dilation: 2)
        XCTAssertTrue(TapRegions.suits(x: [2, 64, 32, 32], w: [64, 64, 3, 3], y: [2, 64, 32, 32], aspp, winograd: true))
        XCTAssertFalse(TapRegions.suits(x: [2, 64, 32, 32], w: [64, 64, 3, 3], y: [2, 64, 32, 32], mild, winograd: false))
        XCTAssertFalse(TapRegions.suits(x: [2, 64, 32, 32], w: [64, 64, 3, 3], y: [2, 64, 32, 32],
                                        ConvGeometry(stride: 2, padding: 24, dilation: 24), winograd: false))
        let x = rng.tensor([2, 16, 32, 32]), w = rng.tensor([8, 16, 3, 3])
        let viaRegions = Tensor(zeros: [2, 8, 32, 32]), viaIm2col = Tensor(zeros: [2, 8, 32, 32])
        ConvKernels.forward(x, w, aspp, viaRegions)
        TapRegions.enabled = false
        defer { TapRegions.enabled = true }
        ConvKernels.forward(x, w, aspp, viaIm2col, winograd: false)
        XCTAssertLessThan(relativeL2(viaRegions.scalars, viaIm2col.scalars), 1e-6)
    }
}
