import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Dilated convolutions whose outer taps only read padding (DeepLabV3's ASPP on small maps) run
/// with the live taps only, in forward and both backward products, with the same results.
final class DeadTapsTests: XCTestCase {
    var rng = SeededRNG(seed: 5)

    func testLiveTapIntervals() {
        // 16×16 map, 3×3 kernel, stride 1, "same" padding = dilation
        XCTAssertTrue(DeadTaps.live(extent: 16, out: 16, kernel: 3, stride: 1, pad: 24, dilation: 24)! == (1, 1))
        XCTAssertTrue(DeadTaps.live(extent: 16, out: 16, kernel: 3, stride: 1, pad: 36, dilation: 36)! == (1, 1))
        XCTAssertNil(DeadTaps.live(extent: 16, out: 16, kernel: 3, stride: 1, pad: 12, dilation: 12))   // ±12 reaches rows 12…15
        XCTAssertNil(DeadTaps.live(extent: 32, out: 32, kernel: 3, stride: 1, pad: 24, dilation: 24))
        // 5 taps at dilation 10 on 12 rows: ±20 dead, ±10 live
        XCTAssertTrue(DeadTaps.live(extent: 12, out: 12, kernel: 5, stride: 1, pad: 20, dilation: 10)! == (1, 3))
    }

    func convPlans(x xs: [Int], w ws: [Int], _ geo: ConvGeometry) throws -> (Graph, [String: Tensor]) {
        let g = Graph()
        let x = g.input("x", xs), w = g.parameter("w", ws)
        let y = try g.conv2d(x, w, nil, geo)
        let r = g.input("r", g.shape(y))
        g.output("y", y)
        let loss = try g.sumAll(g.mul(y, r))
        let grads = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, g.shape(loss)))], wrt: [x, w])
        g.output("dx", grads[0]!); g.output("dw", grads[1]!)
        return (g, ["x": rng.tensor(xs), "w": rng.tensor(ws), "r": rng.tensor(g.shape(y))])
    }

    func testPrunedConvsAgreeInForwardAndBackward() throws {
        let cases: [([Int], [Int], ConvGeometry, [Int])] = [
            // x, w, geometry, the weight shape the pruned convs use
            ([2, 6, 16, 16], [5, 6, 3, 3], ConvGeometry(padding: 24, dilation: 24), [5, 6, 1, 1]),
            ([1, 4, 16, 16], [3, 4, 3, 3], ConvGeometry(padding: 36, dilation: 36), [3, 4, 1, 1]),
            ([1, 4, 16, 40], [3, 4, 3, 3], ConvGeometry(padding: 24, dilation: 24), [3, 4, 1, 3]),   // rows only
            ([1, 3, 12, 12], [2, 3, 5, 5], ConvGeometry(padding: 20, dilation: 10), [2, 3, 3, 3]),
            ([1, 8, 16, 16], [8, 1, 3, 3], ConvGeometry(padding: 24, dilation: 24, groups: 8), [8, 1, 1, 1]),
        ]
        for (xs, ws, geo, small) in cases {
            let (g, bind) = try convPlans(x: xs, w: ws, geo)
            let fp = try Compiler.compileUncached(g), pp = try Compiler.compileUncached(g, fuse: false)
            let convWeights = fp.steps.compactMap { s -> [Int]? in
                switch s.kernel {
                case .conv2d, .conv2dEpilogue, .conv2dBackwardInput: return fp.slotShapes[s.args[1]]
                case .conv2dBackwardWeight: return fp.slotShapes[s.out]
                default: return nil
                }
            }
            XCTAssertEqual(convWeights, [small, small, small], "\(geo)")
            let f = try Executor(fp).run(bind), p = try Executor(pp).run(bind)
            for k in ["y", "dx", "dw"] {
                XCTAssertEqual(f[k]!.shape, p[k]!.shape)
                XCTAssertLessThan(relativeL2(f[k]!.scalars, p[k]!.scalars), 1e-6, "\(k) \(geo)")
            }
        }
    }

    func testLiveConvsAreKept() throws {
        let (g, _) = try convPlans(x: [1, 4, 16, 16], w: [3, 4, 3, 3], ConvGeometry(padding: 12, dilation: 12))
        XCTAssertEqual(try DeadTaps.apply(g) === g, true)
    }
}
