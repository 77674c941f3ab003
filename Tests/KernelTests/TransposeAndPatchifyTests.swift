import Foundation
import Graph
import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// The tiled transpose path of strided gathers, the space-to-depth convolution path
/// (kernel = stride) and the vector logarithms, against direct index loops.
final class TransposeAndPatchifyTests: XCTestCase {
    var rng = SeededRNG(seed: 23)

    /// Permutes whose innermost output axis is strided in the input (ragged tile edges included),
    /// and permutes that keep it contiguous.
    func testTiledPermutesMatchIndexLoop() throws {
        let cases: [([Int], [Int])] = [([3, 70, 45], [0, 2, 1]), ([130, 33], [1, 0]), ([5, 17, 33, 4], [3, 2, 0, 1]),
                                       ([2, 40, 3, 20], [0, 3, 2, 1]),
                                       // whole 16×16 tiles through registers, with a 4 KiB destination stride
                                       ([2, 1024, 48], [0, 2, 1]), ([2, 48, 1024], [0, 2, 1]),
                                       // contiguous inner runs (the odometer walk; short SIMD copies)
                                       ([3, 5, 7, 16], [0, 2, 1, 3]), ([4, 3, 6, 37], [2, 0, 1, 3]), ([64, 3, 200], [1, 0, 2])]
        for (shape, perm) in cases {
            let x = rng.tensor(shape)
            let y = try evaluate([x]) { g, v in try g.permute(v[0], perm) }
            let outShape = perm.map { shape[$0] }
            XCTAssertEqual(y.shape, outShape)
            let xs = ShapeMath.strides(shape)
            for flat in 0..<y.count {
                var rem = flat, src = 0
                for d in stride(from: outShape.count - 1, through: 0, by: -1) {
                    src += (rem % outShape[d]) * xs[perm[d]]; rem /= outShape[d]
                }
                if y.floats[flat] != x.floats[src] { XCTFail("\(shape) \(perm) at \(flat)"); break }
            }
        }
    }

    /// conv2d with kernel = stride 2 (space-to-depth im2col), its transposed form (depth-to-space
    /// col2im) and the weight gradient, on planes wide enough for the tiled path.
    func testKernelEqualsStrideConvolutionsMatchDirectLoops() throws {
        let (n, c, o, h, w) = (2, 5, 6, 36, 40)
        let geo = ConvGeometry(stride: 2, padding: 0)
        let x = rng.tensor([n, c, h, w]), wt = rng.tensor([o, c, 2, 2])
        let (oh, ow) = (h / 2, w / 2)
        func xi(_ b: Int, _ ch: Int, _ y: Int, _ xx: Int) -> Int { ((b * c + ch) * h + y) * w + xx }
        func wi(_ oc: Int, _ ch: Int, _ i: Int, _ j: Int) -> Int { ((oc * c + ch) * 2 + i) * 2 + j }
        func yi(_ b: Int, _ oc: Int, _ y: Int, _ xx: Int) -> Int { ((b * o + oc) * oh + y) * ow + xx }

        // forward: y[b,o,oy,ox] = Σ w[o,c,i,j]·x[b,c,2oy+i,2ox+j]
        let y = try evaluate([x, wt]) { g, v in try g.conv2d(v[0], v[1], nil, geo) }
        var ref = [Float](repeating: 0, count: n * o * oh * ow)
        for b in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            var s: Double = 0
            for ch in 0..<c { for i in 0..<2 { for j in 0..<2 {
                s += Double(wt.floats[wi(oc, ch, i, j)]) * Double(x.floats[xi(b, ch, 2 * oy + i, 2 * ox + j)])
            } } }
            ref[yi(b, oc, oy, ox)] = Float(s)
        } } } }
        XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, "forward")

        // transposed: dx[b,c,2oy+i,2ox+j] = Σ_o w[o,c,i,j]·dy[b,o,oy,ox]
        let dy = rng.tensor([n, o, oh, ow])
        let dx = try evaluate([dy, wt]) { g, v in try g.add(.conv2dBackwardInput(geo, inputShape: [n, c, h, w]), [v[0], v[1]]) }
        var dref = [Float](repeating: 0, count: x.count)
        for b in 0..<n { for ch in 0..<c { for oy in 0..<oh { for ox in 0..<ow { for i in 0..<2 { for j in 0..<2 {
            var s: Double = 0
            for oc in 0..<o { s += Double(wt.floats[wi(oc, ch, i, j)]) * Double(dy.floats[yi(b, oc, oy, ox)]) }
            dref[xi(b, ch, 2 * oy + i, 2 * ox + j)] = Float(s)
        } } } } } }
        XCTAssertLessThan(relativeL2(dx.scalars, dref), 1e-6, "backward input")

        // weight gradient: dw[o,c,i,j] = Σ_{b,oy,ox} dy[b,o,oy,ox]·x[b,c,2oy+i,2ox+j]
        let dw = try evaluate([x, dy]) { g, v in try g.add(.conv2dBackwardWeight(geo, weightShape: [o, c, 2, 2]), [v[0], v[1]]) }
        var wref = [Float](repeating: 0, count: wt.count)
        for oc in 0..<o { for ch in 0..<c { for i in 0..<2 { for j in 0..<2 {
            var s: Double = 0
            for b in 0..<n { for oy in 0..<oh { for ox in 0..<ow {
                s += Double(dy.floats[yi(b, oc, oy, ox)]) * Double(x.floats[xi(b, ch, 2 * oy + i, 2 * ox + j)])
            } } }
            wref[wi(oc, ch, i, j)] = Float(s)
        } } } }
        XCTAssertLessThan(relativeL2(dw.scalars, wref), 1e-6, "backward weight")
    }

    /// VMath.log / log1p / softplus: special values and wide ranges against Foundation in Double.
    func testVectorLogarithms() {
        let special: [Float] = [0, -1, .infinity, .nan, 1e-40, 1.1754944e-38, 1, 2, 0.5, 1.4142135, 1.4142137,
                                3e38, 7, 1e-30, 0.999999, 1.000001]
        var xs = special
        while xs.count % 16 != 0 { xs.append(1) }
        for base in stride(from: 0, to: xs.count, by: 16) {
            let v = SIMD16<Float>(xs[base..<(base + 16)])
            let l = VMath.log(v), l1 = VMath.log1p(v), sp = VMath.softplus(v)
            for k in 0..<16 {
                let x = Double(v[k])
                let want = Foundation.log(x)
                if want.isNaN { XCTAssertTrue(l[k].isNaN, "log(\(x))") }
                else if want.isInfinite { XCTAssertEqual(Double(l[k]), want, "log(\(x))") }
                else { XCTAssertEqual(Double(l[k]), want, accuracy: 2e-7 * Swift.max(1, Swift.abs(want)), "log(\(x))") }
                if x > -1 && x.isFinite {
                    XCTAssertEqual(Double(l1[k]), Foundation.log1p(x), accuracy: 3e-7 * Swift.max(1e-30, Swift.abs(Foundation.log1p(x))), "log1p(\(x))")
                }
                if x.isFinite {
                    let s = Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
                    XCTAssertEqual(Double(sp[k]), s, accuracy: 3e-7 * Swift.max(1e-30, s), "softplus(\(x))")
                }
            }
        }
        // dense sweep over many binades
        var worst = 0.0
        for e in -30...30 {
            let v = SIMD16<Float>((0..<16).map { Float(Foundation.pow(2.0, Double(e)) * (1 + Double($0) / 16.3)) })
            let l = VMath.log(v)
            for k in 0..<16 { worst = Swift.max(worst, Swift.abs(Double(l[k]) - Foundation.log(Double(v[k]))) / Swift.max(1, Swift.abs(Foundation.log(Double(v[k]))))) }
        }
        XCTAssertLessThan(worst, 2e-7)
    }
}
