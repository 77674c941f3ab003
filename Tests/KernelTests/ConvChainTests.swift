import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// 1×1 conv → depthwise conv → 1×1 conv (MBConv) becomes one `convChain` step in inference plans;
/// it agrees with the unfused per-op plan over kernel sizes, paddings, dilations, residuals,
/// strides, batches, and shapes that need several strips and bands; it is not formed when an
/// intermediate is needed elsewhere.
final class ConvChainTests: XCTestCase {
    var rng = SeededRNG(seed: 77)

    struct Case {
        var x: [Int]           // N, C, H, W
        var e, o, k: Int
        var geo: ConvGeometry  // the depthwise conv's
        var bn = true, residual = false
    }

    func build(_ c: Case, exposeMiddle: Bool = false) throws -> (Graph, [String: Tensor]) {
        let g = Graph()
        let x = g.input("x", c.x)
        var bind = ["x": rng.tensor(c.x)]
        func stage(_ y: Value, _ ch: Int, _ n: String, act: Bool, residual: Value? = nil) throws -> Value {
            var z = y
            if c.bn {
                let p = ["g", "b", "rm", "rv"].map { g.input(n + $0, [ch]) }
                z = try g.batchNormEval(z, weight: p[0], bias: p[1], runningMean: p[2], runningVar: p[3])
                bind[n + "g"] = rng.tensor([ch], 0.5, 2); bind[n + "b"] = rng.tensor([ch])
                bind[n + "rm"] = rng.tensor([ch], -0.5, 0.5); bind[n + "rv"] = rng.tensor([ch], 0.1, 2)
            }
            if let residual { z = try g.add(z, residual) }
            return act ? try g.gelu(z) : z
        }
        let w1 = [c.e, c.x[1], 1, 1], w2 = [c.e, 1, c.k, c.k], w3 = [c.o, c.e, 1, 1]
        bind["w1"] = rng.tensor(w1); bind["w2"] = rng.tensor(w2, -0.5, 0.5); bind["w3"] = rng.tensor(w3, -0.5, 0.5)
        let t1 = try stage(g.conv2d(x, g.input("w1", w1)), c.e, "1", act: true)
        let t2 = try stage(g.conv2d(t1, g.input("w2", w2), nil, c.geo), c.e, "2", act: true)
        let y = try stage(g.conv2d(t2, g.input("w3", w3)), c.o, "3", act: c.residual, residual: c.residual ? x : nil)
        g.output("y", y)
        if exposeMiddle { g.output("t1", t1) }
        return (g, bind)
    }

    func chains(_ p: Plan) -> Int { p.steps.filter { if case .convChain = $0.kernel { return true }; return false }.count }

    func testChainMatchesUnfused() throws {
        let cases = [
            Case(x: [2, 5, 13, 9], e: 12, o: 7, k: 3, geo: ConvGeometry(padding: 1, groups: 12)),
            Case(x: [1, 6, 11, 10], e: 8, o: 6, k: 3, geo: ConvGeometry(padding: 1, groups: 8), residual: true),
            Case(x: [1, 4, 12, 12], e: 8, o: 3, k: 5, geo: ConvGeometry(padding: 2, groups: 8)),
            Case(x: [1, 4, 9, 8], e: 6, o: 4, k: 3, geo: ConvGeometry(padding: 0, groups: 6)),            // OH = H − 2
            Case(x: [2, 3, 10, 11], e: 6, o: 5, k: 3, geo: ConvGeometry(padding: 2, dilation: 2, groups: 6)),
            Case(x: [1, 3, 7, 6], e: 4, o: 2, k: 3, geo: ConvGeometry(padding: 1, groups: 4), bn: false),
            // stride 2 (TinyViT's patch merging), odd extents, and stride 3 with dilation
            Case(x: [2, 4, 11, 9], e: 8, o: 6, k: 3, geo: ConvGeometry(stride: 2, padding: 1, groups: 8)),
            Case(x: [1, 3, 14, 13], e: 6, o: 4, k: 3, geo: ConvGeometry(stride: 3, padding: 2, dilation: 2, groups: 6)),
            Case(x: [1, 16, 67, 64], e: 256, o: 16, k: 3, geo: ConvGeometry(stride: 2, padding: 1, groups: 256)),
            // E·W·4 bytes = 64 KiB per expanded row: 14-row strips, several strips and bands per image
            Case(x: [2, 16, 70, 64], e: 256, o: 16, k: 3, geo: ConvGeometry(padding: 1, groups: 256), residual: true),
        ]
        for c in cases {
            let (g, bind) = try build(c)
            let fp = try Compiler.compileUncached(g), pp = try Compiler.compileUncached(g, fuse: false)
            XCTAssertEqual(chains(fp), 1, "\(c)\n\(fp)")
            XCTAssertEqual(fp.totalFLOPs, pp.totalFLOPs, accuracy: 1e-6 * pp.totalFLOPs)
            let fused = try Executor(fp).run(bind)["y"]!, plain = try Executor(pp).run(bind)["y"]!
            XCTAssertEqual(fused.shape, plain.shape)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(c)")
            // and against the three folded convs without the chain
            let steps = try Executor(try Compiler.compileUncached(g, skip: ["conv-chain"])).run(bind)["y"]!
            XCTAssertLessThan(relativeL2(fused.scalars, steps.scalars), 1e-5, "\(c)")
        }
    }

    func testNoChainWhenTheIntermediateIsNeeded() throws {
        let (g, bind) = try build(Case(x: [1, 4, 8, 8], e: 8, o: 4, k: 3, geo: ConvGeometry(padding: 1, groups: 8)), exposeMiddle: true)
        let fp = try Compiler.compileUncached(g)
        XCTAssertEqual(chains(fp), 0)
        let out = try Executor(fp).run(bind), ref = try Executor(try Compiler.compileUncached(g, fuse: false)).run(bind)
        XCTAssertLessThan(relativeL2(out["y"]!.scalars, ref["y"]!.scalars), 1e-5)
        XCTAssertLessThan(relativeL2(out["t1"]!.scalars, ref["t1"]!.scalars), 1e-5)
    }

}
