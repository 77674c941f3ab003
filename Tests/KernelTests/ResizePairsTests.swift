import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// Plain bilinear resize (the two-tap fast path) against a Double evaluation of PyTorch's
/// `upsample_bilinear2d` formula, up and down, both corner conventions, odd sizes and row tails;
/// the backward against a Double transpose and by the adjoint identity ⟨resize(x), g⟩ = ⟨x, resizeᵀ(g)⟩.
final class ResizePairsTests: XCTestCase {
    var rng = SeededRNG(seed: 91)

    func src(_ o: Int, _ n: Int, _ on: Int, _ align: Bool) -> (Int, Int, Double) {
        var s = align ? (on > 1 ? Double(n - 1) / Double(on - 1) : 0) * Double(o)
                      : Double(n) / Double(on) * (Double(o) + 0.5) - 0.5
        if s < 0 { s = 0 }
        let i0 = min(Int(s), n - 1), i1 = min(i0 + 1, n - 1)
        return (i0, i1, s - Double(i0))
    }

    /// dx = Wᵀ·g, each output's gradient spread over its four source pixels.
    func referenceBackward(_ g: [Float], _ h: Int, _ w: Int, _ oh: Int, _ ow: Int, _ align: Bool) -> [Double] {
        var dx = [Double](repeating: 0, count: h * w)
        for oy in 0..<oh {
            let (y0, y1, ly) = src(oy, h, oh, align)
            for ox in 0..<ow {
                let (x0, x1, lx) = src(ox, w, ow, align), v = Double(g[oy * ow + ox])
                dx[y0 * w + x0] += (1 - ly) * (1 - lx) * v; dx[y0 * w + x1] += (1 - ly) * lx * v
                dx[y1 * w + x0] += ly * (1 - lx) * v; dx[y1 * w + x1] += ly * lx * v
            }
        }
        return dx
    }

    func reference(_ x: [Float], _ h: Int, _ w: Int, _ oh: Int, _ ow: Int, _ align: Bool) -> [Double] {
        func src(_ o: Int, _ n: Int, _ on: Int) -> (Int, Int, Double) { self.src(o, n, on, align) }
        var y = [Double](repeating: 0, count: oh * ow)
        for oy in 0..<oh {
            let (y0, y1, ly) = src(oy, h, oh)
            for ox in 0..<ow {
                let (x0, x1, lx) = src(ox, w, ow)
                func v(_ a: Int, _ b: Int) -> Double { Double(x[a * w + b]) }
                y[oy * ow + ox] = (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))
            }
        }
        return y
    }

    func testBilinearPairsAgainstReference() {
        for (h, w, oh, ow) in [(4, 5, 16, 20), (7, 9, 28, 37), (33, 17, 8, 5), (1, 3, 1, 47), (5, 5, 5, 5)] {
            for align in [false, true] {
                let spec = ResizeSpec(height: oh, width: ow, alignCorners: align)
                let x = rng.tensor([2, 3, h, w]), y = Tensor(zeros: [2, 3, oh, ow])
                ResizeKernels.forward(x, spec, y)
                for p in 0..<6 {
                    let ref = reference(Array(x.floats[(p * h * w)..<((p + 1) * h * w)]), h, w, oh, ow, align)
                    for i in 0..<(oh * ow) {
                        XCTAssertEqual(Double(y.floats[p * oh * ow + i]), ref[i], accuracy: 1e-5, "\(h)×\(w) → \(oh)×\(ow) align \(align)")
                    }
                }
                let g = rng.tensor([2, 3, oh, ow]), dx = Tensor(zeros: [2, 3, h, w])
                ResizeKernels.backward(g, spec, dx)
                for p in 0..<6 {
                    let ref = referenceBackward(Array(g.floats[(p * oh * ow)..<((p + 1) * oh * ow)]), h, w, oh, ow, align)
                    for i in 0..<(h * w) {
                        XCTAssertEqual(Double(dx.floats[p * h * w + i]), ref[i], accuracy: 1e-4, "backward \(h)×\(w) → \(oh)×\(ow) align \(align)")
                    }
                }
                let lhs = zip(y.floats, g.floats).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let rhs = zip(x.floats, dx.floats).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "adjoint \(h)×\(w) → \(oh)×\(ow) align \(align)")
            }
        }
    }
}
