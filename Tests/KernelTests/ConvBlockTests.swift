import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// im2col in blocks of output rows (a bounded scratch buffer) gives the same forward and backward
/// results as one whole column matrix, for strided, padded, dilated and grouped convolutions.
final class ConvBlockTests: XCTestCase {
    var rng = SeededRNG(seed: 41)

    func testRowBlocksMatchWholeColumns() {
        let cases: [([Int], [Int], ConvGeometry)] = [
            ([2, 3, 13, 11], [4, 3, 3, 3], ConvGeometry(padding: 1)),
            ([1, 4, 17, 9], [6, 4, 3, 3], ConvGeometry(stride: 2, padding: 2, dilation: 2)),
            ([2, 4, 10, 10], [6, 2, 5, 5], ConvGeometry(padding: 2, groups: 2)),
            ([1, 2, 9, 12], [3, 2, 3, 1], ConvGeometry(strideH: 1, strideW: 2, padH: 1, padW: 0, dilationH: 3, dilationW: 1, groups: 1)),
        ]
        let saved = ConvKernels.maxColumnFloats
        defer { ConvKernels.maxColumnFloats = saved }
        for (xs, ws, g) in cases {
            let oh = ConvGeometry.outExtent(xs[2], kernel: ws[2], stride: g.strideH, pad: g.padH, dilation: g.dilationH)
            let ow = ConvGeometry.outExtent(xs[3], kernel: ws[3], stride: g.strideW, pad: g.padW, dilation: g.dilationW)
            let ys = [xs[0], ws[0], oh, ow]
            let x = rng.tensor(xs), w = rng.tensor(ws), dy = rng.tensor(ys)
            func run(budget: Int) -> [[Float]] {
                ConvKernels.maxColumnFloats = budget
                let y = Tensor(zeros: ys), dx = Tensor(zeros: xs), dw = Tensor(zeros: ws)
                ConvKernels.forward(x, w, g, y)
                ConvKernels.backwardInput(dy, w, g, dx)
                ConvKernels.backwardWeight(x, dy, g, dw)
                return [y.scalars, dx.scalars, dw.scalars]
            }
            let whole = run(budget: 1 << 30)
            let k = xs[1] / g.groups * ws[2] * ws[3]
            for rowsPerBlock in [1, 2, 3] {
                let blocked = run(budget: k * ow * rowsPerBlock)
                for (a, b) in zip(whole, blocked) { XCTAssertLessThan(relativeL2(a, b), 1e-6, "\(g) rows \(rowsPerBlock)") }
            }
        }
    }
}
