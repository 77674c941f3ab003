import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Conv + per-channel arithmetic (eval BatchNorm, bias) + activation folds into one
/// `conv2dEpilogue` step in inference graphs; the fused plan agrees with the per-op kernels.
final class ConvEpilogueTests: XCTestCase {
    var rng = SeededRNG(seed: 123)

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func epilogues(_ p: Plan) -> [String] {
        p.steps.compactMap { if case .conv2dEpilogue = $0.kernel { return "\($0.kernel)" }; return nil }
    }

    /// Builds conv → eval BN → act with random statistics (the activation's input centred, so
    /// GELU is not compared deep in its tail, where 1 + erf cancels).
    func bnGraph(_ x: [Int], cout: Int, k: Int, _ geo: ConvGeometry, act: UnaryFn?) throws -> (Graph, [String: Tensor]) {
        let g = Graph()
        let xv = g.input("x", x), wv = g.input("w", [cout, x[1] / geo.groups, k, k])
        let names = ["g", "b", "rm", "rv"]
        let p = names.map { g.input($0, [cout]) }
        var y = try g.batchNormEval(g.conv2d(xv, wv, nil, geo), weight: p[0], bias: p[1], runningMean: p[2], runningVar: p[3])
        if let act { y = try g.unary(act, y) }
        g.output("y", y)
        let bind = ["x": rng.tensor(x), "w": rng.tensor([cout, x[1] / geo.groups, k, k]),
                    "g": rng.tensor([cout], 0.5, 2), "b": rng.tensor([cout]),
                    "rm": rng.tensor([cout], -0.5, 0.5), "rv": rng.tensor([cout], 0.1, 2)]
        return (g, bind)
    }

    func testPointwiseGroupedDepthwiseAndStridedConvsFold() throws {
        let cases: [([Int], Int, Int, ConvGeometry, UnaryFn?)] = [
            ([2, 8, 9, 7], 12, 1, ConvGeometry(), .geluErf),                          // 1×1: straight GEMM
            ([1, 4, 301, 301], 16, 1, ConvGeometry(), .geluErf),                     // 1×1, a larger plane
            ([2, 4, 9, 8], 6, 3, ConvGeometry(stride: 2, padding: 1), .relu),         // im2col
            ([1, 8, 10, 11], 8, 3, ConvGeometry(padding: 1, groups: 8), .geluErf),   // depthwise
            ([1, 8, 10, 11], 8, 3, ConvGeometry(stride: 2, padding: 1, groups: 8), nil),
            ([2, 8, 6, 6], 4, 3, ConvGeometry(padding: 1, groups: 2), .hardswish),   // grouped
        ]
        for (x, cout, k, geo, act) in cases {
            let (g, bind) = try bnGraph(x, cout: cout, k: k, geo, act: act)
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, pp) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(geo) \(String(describing: act))")
            XCTAssertEqual(epilogues(fp), ["conv2d(\(geo))·[sub·mul·mul·add\(act.map { "·" + $0.name } ?? "")]"], "\(fp)")
            XCTAssertFalse(fp.steps.contains { if case .fused = $0.kernel { return $0.out == fp.outputs[0].slot }; return false })
            XCTAssertEqual(fp.totalFLOPs, pp.totalFLOPs)
        }
    }

    /// MBConv / ResNet skip connections: act(bn(conv(x)) + r) folds with r as the residual, in the
    /// GEMM path and the depthwise path; a per-channel op after the
    /// residual stays outside.
    func testResidualFolds() throws {
        let cases: [([Int], Int, ConvGeometry, UnaryFn?)] = [
            ([2, 8, 9, 7], 1, ConvGeometry(), .geluErf),
            ([1, 8, 300, 301], 1, ConvGeometry(), .relu),            // a larger plane
            ([1, 8, 10, 11], 3, ConvGeometry(padding: 1, groups: 8), .geluErf),
            ([1, 8, 6, 5], 3, ConvGeometry(padding: 1), nil),        // im2col
        ]
        for (x, k, geo, act) in cases {
            let g = Graph()
            let xv = g.input("x", x), wv = g.input("w", [8, x[1] / geo.groups, k, k])
            let p = ["g", "b", "rm", "rv"].map { g.input($0, [8]) }
            let bn = try g.batchNormEval(g.conv2d(xv, wv, nil, geo), weight: p[0], bias: p[1], runningMean: p[2], runningVar: p[3])
            var y = try g.add(bn, g.tanh(xv))
            if let act { y = try g.unary(act, y) }
            g.output("y", try g.add(y, g.reshape(p[1], [1, 8, 1, 1])))
            let bind = ["x": rng.tensor(x), "w": rng.tensor([8, x[1] / geo.groups, k, k]), "g": rng.tensor([8], 0.5, 2),
                        "b": rng.tensor([8]), "rm": rng.tensor([8], -0.5, 0.5), "rv": rng.tensor([8], 0.1, 2)]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, _) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(geo)")
            XCTAssertEqual(epilogues(fp), ["conv2d(\(geo))·[sub·mul·mul·add·residual\(act.map { "·" + $0.name } ?? "")]"], "\(fp)")
        }
    }

    /// ResNet's downsampling block: relu(bn(conv(h)) + bn(conv_ds(x))): both chains reach the
    /// skip add; one takes it as its residual, the other ends before it.
    func testTwoConvChainsJoinedByASkipConnection() throws {
        let x = rng.tensor([2, 4, 6, 6]), w1 = rng.tensor([8, 4, 3, 3]), w2 = rng.tensor([8, 4, 1, 1])
        let g = Graph()
        let xv = g.input("x", x.shape)
        func bn(_ v: Value, _ k: String) throws -> Value {
            try g.batchNormEval(v, weight: g.input(k + "g", [8]), bias: g.input(k + "b", [8]),
                                runningMean: g.input(k + "m", [8]), runningVar: g.input(k + "v", [8]))
        }
        let main = try bn(g.conv2d(xv, g.input("w1", w1.shape), nil, ConvGeometry(padding: 1)), "a")
        let skip = try bn(g.conv2d(xv, g.input("w2", w2.shape)), "d")
        g.output("y", try g.relu(g.add(main, skip)))
        var bind = ["x": x, "w1": w1, "w2": w2]
        for k in ["a", "d"] {
            bind[k + "g"] = rng.tensor([8], 0.5, 2); bind[k + "b"] = rng.tensor([8])
            bind[k + "m"] = rng.tensor([8], -0.5, 0.5); bind[k + "v"] = rng.tensor([8], 0.1, 2)
        }
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
        XCTAssertEqual(Set(epilogues(fp)), ["conv2d(s1x1 p0x0 d1x1 g1)·[sub·mul·mul·add·residual·relu]",
                                            "conv2d(s1x1 p1x1 d1x1 g1)·[sub·mul·mul·add]"], "\(fp)")
    }

    /// A bias (reshaped [1, C, 1, 1]), a scalar, a reversed add and a division fold; an op after
    /// the activation and a non-channel operand stay outside. A mean far from zero against the
    /// spread is subtracted before scaling, as the unfused ops do, so no precision is lost.
    func testBiasScalarReversedAndDivisionSteps() throws {
        let x = rng.tensor([2, 3, 5, 6]), w = rng.tensor([4, 3, 3, 3]), b = rng.tensor([4], 300, 301), d = rng.tensor([4, 1, 1], 1, 2)
        let full = rng.tensor([2, 4, 5, 6])
        let g = Graph()
        let c = try g.conv2d(g.input("x", x.shape), g.input("w", w.shape), g.input("b", b.shape), ConvGeometry(padding: 1))
        let s = try g.add(g.constant(-300.5, [1]), c)                      // reversed add of a scalar
        let q = try g.div(g.mul(s, g.constant(3, [])), g.input("d", d.shape))
        let fv = g.input("full", full.shape)
        g.output("y", try g.mul(g.add(g.tanh(q), fv), fv))
        let bind = ["x": x, "w": w, "b": b, "d": d, "full": full]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
        XCTAssertEqual(epilogues(fp), ["conv2d(s1x1 p1x1 d1x1 g1)·[add·add·mul·div·tanh]"], "\(fp)")
    }

    /// Training: the backward reads the conv output and the batch statistics, so nothing folds;
    /// a conv result that is a graph output or read twice does not fold either.
    func testTrainingGraphsAndSharedResultsDoNotFold() throws {
        let x = rng.tensor([2, 3, 6, 6]), w = rng.tensor([4, 3, 1, 1])
        let g = Graph()
        let xv = g.input("x", x.shape), wv = g.input("w", w.shape)
        let gam = g.input("g", [4]), bet = g.input("b", [4]), rm = g.input("rm", [4]), rv = g.input("rv", [4])
        let bn = try g.batchNormTrain(g.conv2d(xv, wv), weight: gam, bias: bet, runningMean: rm, runningVar: rv)
        let loss = try g.sumAll(g.gelu(bn.y))
        let grads = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: [wv, gam])
        g.output("y", try g.add(g.sumAll(grads[0]!), g.sumAll(grads[1]!)))
        let bind = ["x": x, "w": w, "g": rng.tensor([4]), "b": rng.tensor([4]), "rm": rng.tensor([4]), "rv": rng.tensor([4], 0.5, 1)]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
        XCTAssertEqual(epilogues(fp), [], "\(fp)")

        let h = Graph()
        let c = try h.conv2d(h.input("x", x.shape), h.input("w", w.shape))
        h.output("c", c)
        h.output("y", try h.relu(h.add(c, h.reshape(h.input("b", [4]), [1, 4, 1, 1]))))
        let (_, hp) = try run(h, fuse: true, ["x": x, "w": w, "b": rng.tensor([4])])
        XCTAssertEqual(epilogues(hp), [], "\(hp)")
    }
}
