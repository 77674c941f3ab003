import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

final class ContractionGradTests: XCTestCase {
    var rng = SeededRNG(seed: 31)

    func testMatmulTransposesAndBroadcast() throws {
        for ta in [false, true] {
            for tb in [false, true] {
                let (m, k, n) = (rng.int(1...5), rng.int(1...5), rng.int(1...5))
                let a = rng.tensor([2, 1] + (ta ? [k, m] : [m, k]))
                let b = rng.tensor([3] + (tb ? [n, k] : [k, n]))
                let r = try gradCheck([a, b], h: 1e-2) { g, v in try g.matmul(v[0], v[1], transposeA: ta, transposeB: tb) }
                XCTAssertLessThan(r.worst, 1e-3, "ta \(ta) tb \(tb): \(r)")
            }
        }
        let x = rng.tensor([2, 3, 4]), w = rng.tensor([5, 4]), bias = rng.tensor([5])
        XCTAssertLessThan(try gradCheck([x, w, bias]) { g, v in try g.linear(v[0], v[1], v[2]) }.worst, 1e-3)
    }

    /// A rank-2 right operand shared by a batch (`batchFoldedWeightGradient`: one GEMM over the
    /// stacked batch), plain and transposed, rank 3 and 4, against finite differences.
    func testSharedWeightGradientOverTheBatch() throws {
        for tb in [false, true] {
            for lead in [[3], [2, 2]] {
                let a = rng.tensor(lead + [4, 5])
                let b = rng.tensor(tb ? [6, 5] : [5, 6])
                let r = try gradCheck([a, b], h: 1e-2) { g, v in try g.matmul(v[0], v[1], transposeB: tb) }
                XCTAssertLessThan(r.worst, 1e-3, "tb \(tb) lead \(lead): \(r)")
            }
        }
    }

    func testConvolutionGeometries() throws {
        let geos: [(Int, ConvGeometry, Int)] = [   // (in channels, geometry, out channels)
            (3, ConvGeometry(stride: 1, padding: 1), 4),
            (2, ConvGeometry(stride: 2, padding: 2, dilation: 2), 3),
            (4, ConvGeometry(stride: 1, padding: 1, groups: 2), 6),
            (3, ConvGeometry(stride: 2, padding: 1, groups: 3), 3),     // depthwise
            (2, ConvGeometry(stride: 1, padding: 1, groups: 2), 4),     // depthwise, multiplier 2
            (3, ConvGeometry(strideH: 1, strideW: 2, padH: 0, padW: 1, dilationH: 1, dilationW: 1, groups: 1), 2),
            (3, ConvGeometry(), 5),                                      // 1×1 pointwise
        ]
        for (ci, geo, co) in geos {
            let k = geo == ConvGeometry() ? 1 : 3
            let x = rng.tensor([2, ci, rng.int(5...8), rng.int(5...8)])
            let w = rng.tensor([co, ci / geo.groups, k, k])
            let b = rng.tensor([co])
            let r = try gradCheck([x, w, b]) { g, v in try g.conv2d(v[0], v[1], v[2], geo) }
            XCTAssertLessThan(r.worst, 1e-3, "\(geo): \(r)")
        }
    }

    func testConvTransposeAndBackwardOps() throws {
        let x = rng.tensor([2, 4, 3, 3]), w = rng.tensor([4, 3, 2, 2]), b = rng.tensor([3])
        XCTAssertLessThan(try gradCheck([x, w, b]) { g, v in try g.convTranspose2d(v[0], v[1], v[2], stride: 2) }.worst, 1e-3)
        let w3 = rng.tensor([4, 2, 3, 3])
        XCTAssertLessThan(try gradCheck([x, w3]) { g, v in
            try g.convTranspose2d(v[0], v[1], nil, stride: 2, padding: 1) }.worst, 1e-3)
        // conv2d_backward_weight as an op of its own
        let xi = rng.tensor([2, 3, 6, 6]), dy = rng.tensor([2, 4, 3, 3])
        let geo = ConvGeometry(stride: 2, padding: 1)
        XCTAssertLessThan(try gradCheck([xi, dy]) { g, v in
            try g.add(.conv2dBackwardWeight(geo, weightShape: [4, 3, 3, 3]), [v[0], v[1]]) }.worst, 1e-3)
    }
}
