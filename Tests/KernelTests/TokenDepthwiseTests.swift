import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// A depthwise conv between token transposes ([B, L, C] → NCHW → conv → back) runs on the tokens
/// directly and agrees with the per-op kernels (permutes, NCHW conv, BatchNorm ops).
final class TokenDepthwiseTests: XCTestCase {
    var rng = SeededRNG(seed: 47)

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func kernels(_ p: Plan) -> [String] { p.steps.map { "\($0.kernel)" } }

    /// tokens → depthwise conv (+ eval BN, + activation) → tokens, plus a residual read of x.
    func graph(b: Int, h: Int, w: Int, c: Int, k: Int, _ geo: ConvGeometry, bn: Bool, act: UnaryFn?) throws -> (Graph, [String: Tensor]) {
        let g = Graph()
        let x = g.input("x", [b, h * w, c]), wv = g.input("w", [c, 1, k, k])
        let img = try g.reshape(g.permute(g.tanh(x), [0, 2, 1]), [b, c, h, w])
        var y = try g.conv2d(img, wv, nil, geo)
        if bn { y = try g.batchNormEval(y, weight: g.input("g", [c]), bias: g.input("b", [c]), runningMean: g.input("rm", [c]), runningVar: g.input("rv", [c])) }
        if let act { y = try g.unary(act, y) }
        let ys = g.shape(y)
        g.output("y", try g.add(g.permute(g.reshape(y, [b, c, ys[2] * ys[3]]), [0, 2, 1]), g.constant(0.5, [])))
        let bind = ["x": rng.tensor([b, h * w, c]), "w": rng.tensor([c, 1, k, k]), "g": rng.tensor([c], 0.5, 2), "b": rng.tensor([c]),
                    "rm": rng.tensor([c], -0.5, 0.5), "rv": rng.tensor([c], 0.2, 2)]
        return (g, bind)
    }

    func testTokensConvAgreesWithPermutedNCHW() throws {
        let cases: [(Int, Int, Int, Int, Int, ConvGeometry, Bool, UnaryFn?)] = [
            (2, 7, 9, 32, 3, ConvGeometry(padding: 1, groups: 32), true, nil),              // TinyViT's local conv
            (1, 8, 8, 20, 3, ConvGeometry(stride: 2, padding: 1, groups: 20), true, .geluErf),  // C not a multiple of 16
            (1, 5, 6, 16, 5, ConvGeometry(padding: 2, dilation: 1, groups: 16), false, nil),     // no epilogue
            (1, 9, 11, 48, 3, ConvGeometry(padding: 2, dilation: 2, groups: 48), true, nil),    // 3×3 dilated: interior columns
            (1, 6, 19, 16, 3, ConvGeometry(padding: 0, groups: 16), false, nil),                // 3×3 unpadded
            (2, 5, 17, 33, 3, ConvGeometry(strideH: 1, strideW: 2, padH: 1, padW: 2, dilationH: 1, dilationW: 1, groups: 33), true, nil),
        ]
        for (b, h, w, c, k, geo, bn, act) in cases {
            let (g, bind) = try graph(b: b, h: h, w: w, c: c, k: k, geo, bn: bn, act: act)
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, pp) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(geo)")
            XCTAssertEqual(kernels(fp).filter { $0.hasPrefix("depthwise_tokens") }.count, 1, "\(fp)")
            XCTAssertFalse(kernels(fp).contains { $0.hasPrefix("permute") }, "\(fp)")
            XCTAssertEqual(fp.totalFLOPs, pp.totalFLOPs)
        }
    }

    /// An NCHW image read by something else, or a grouped (not depthwise) conv, keeps the permutes.
    func testSharedImageOrGroupedConvKeepsThePermutes() throws {
        let (b, h, w, c) = (1, 4, 4, 8)
        let x = rng.tensor([b, h * w, c])
        for shared in [true, false] {
            let g = Graph()
            let img = try g.reshape(g.permute(g.input("x", x.shape), [0, 2, 1]), [b, c, h, w])
            let groups = shared ? c : 2
            let y = try g.conv2d(img, g.input("w", [c, c / groups, 3, 3]), nil, ConvGeometry(padding: 1, groups: groups))
            var out = try g.permute(g.reshape(y, [b, c, h * w]), [0, 2, 1])
            if shared { out = try g.add(out, g.sumAll(img)) }
            g.output("y", out)
            let bind = ["x": x, "w": rng.tensor([c, c / groups, 3, 3])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, _) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
            XCTAssertFalse(kernels(fp).contains { $0.hasPrefix("depthwise_tokens") }, "\(fp)")
        }
    }
}
