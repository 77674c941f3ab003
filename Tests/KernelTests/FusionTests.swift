import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Fused and unfused plans of the same graph agree (the fused kernel against the per-op kernels).
final class FusionTests: XCTestCase {
    var rng = SeededRNG(seed: 77)

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func testBatchNormGeluChainFusesAndAgrees() throws {
        let g = Graph()
        let x = g.input("x", [2, 5, 7, 33]), w = g.input("w", [5]), b = g.input("b", [5])
        let rm = g.input("rm", [5]), rv = g.input("rv", [5])
        let bn = try g.batchNormEval(x, weight: w, bias: b, runningMean: rm, runningVar: rv)
        // gelu, a residual add, a unary_grad and a constant, with odd sizes for the tails
        let y = try g.add(g.gelu(bn), g.add(.unaryGrad(.tanh), [x, g.affine(x, scale: 0.5, shift: 1)]))
        g.output("y", try g.mul(y, g.constant(0.25, [2, 5, 7, 33])))
        let bind = ["x": rng.tensor([2, 5, 7, 33], -3, 3), "w": rng.tensor([5]), "b": rng.tensor([5]),
                    "rm": rng.tensor([5]), "rv": rng.tensor([5], 0.5, 2)]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, pp) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertLessThan(fp.steps.count, pp.steps.count)
        XCTAssertTrue(fp.steps.contains { if case .fused = $0.kernel { return true }; return false })
    }

    func testOperandsUsedTwiceAndOutputsStayMaterialised() throws {
        let g = Graph()
        let x = g.input("x", [3, 40])
        let e = try g.exp(x)                     // two consumers: stays a buffer
        let s = try g.mul(e, e)
        g.output("e", e)
        g.output("y", try g.add(s, g.unary(.log, g.affine(x, scale: 1, shift: 5))))
        let bind = ["x": rng.tensor([3, 40])]
        let (fused, _) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
    }

    func testGradientGraphsAgree() throws {
        // the same fusion applies to backward graphs
        let x = rng.tensor([2, 3, 6, 6]), w = rng.tensor([4, 3, 3, 3])
        let g = Graph()
        let xv = g.input("x", x.shape), wv = g.input("w", w.shape)
        let y = try g.sumAll(g.gelu(g.layerNorm2d(g.conv2d(xv, wv, nil, ConvGeometry(padding: 1)), weight: nil, bias: nil)))
        let grads = try Autodiff.gradients(g, seeds: [(y, g.constant(1, []))], wrt: [xv, wv])
        g.output("y", grads[0]!)
        let (fused, _) = try run(g, fuse: true, ["x": x, "w": w])
        let (plain, _) = try run(g, fuse: false, ["x": x, "w": w])
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5)
    }

    /// Fused groups read broadcast operands through (no broadcast step), a lone op included; a
    /// broadcast that also feeds a non-elementwise consumer stays materialised.
    func testBroadcastsAreReadThrough() throws {
        let g = Graph()
        let x = g.input("x", [3, 5, 40]), r = g.input("r", [1, 5, 1]), s = g.input("s", [40]), w = g.input("w", [40, 6])
        let rb = try g.broadcast(r, [3, 5, 40]), sb = try g.broadcast(s, [3, 5, 40])
        let lone = try g.mul(x, rb)                                 // one op reading through
        let chain = try g.add(g.exp(g.mul(x, sb)), lone)            // a chain reading through
        let mm = try g.matmul(sb, w)                                // keeps sb alive
        g.output("y", try g.add(g.sum(chain, axes: [2]), g.sum(mm, axes: [2])))
        g.output("lone", lone)
        let bind = ["x": rng.tensor([3, 5, 40]), "r": rng.tensor([1, 5, 1]), "s": rng.tensor([40]), "w": rng.tensor([40, 6])]
        let fp = try Compiler.compile(g, fuse: true), pp = try Compiler.compile(g, fuse: false)
        let fused = try Executor(fp).run(bind), plain = try Executor(pp).run(bind)
        for k in ["y", "lone"] { XCTAssertLessThan(relativeL2(fused[k]!.scalars, plain[k]!.scalars), 1e-6, k) }
        let broadcasts = fp.steps.filter { if case .broadcast = $0.kernel { return true }; return false }
        XCTAssertEqual(broadcasts.count, 1, "only the broadcast the matmul reads stays:\n\(fp)")
        XCTAssertEqual(broadcasts.first.map { fp.slotShapes[$0.args[0]] }, [40])
    }

    /// Sums and means of elementwise chains fuse into one step (row sums, column sums, all axes,
    /// middle axes with kept axes on both sides, a broadcast operand, sizes past a block and with
    /// tails, few outputs cut into pieces); reduced axes in two separate runs stay separate.
    func testElementwiseIntoReductionFusesAndAgrees() throws {
        let cases: [([Int], [Int], Bool, Bool)] = [   // (shape, axes, mean, fuses)
            ([3, 70, 600], [2], false, true), ([3, 70, 600], [1, 2], true, true), ([5, 300, 40], [0, 1], false, true),
            ([2, 1, 1100], [0, 1, 2], true, true), ([4, 9, 7], [0], true, true), ([3, 5, 7], [1], false, true),
            ([2, 1300], [1], false, true), ([3, 20, 600], [0], false, true),
            ([4, 64, 9, 13], [1], true, true), ([2, 3, 5, 600], [1, 2], false, true), ([2, 9, 1100], [1], true, true),
            ([2, 50, 100], [1], false, true), ([3, 5, 1, 7, 4], [1], true, true), ([3, 5, 7, 4], [1, 3], false, false),
        ]
        for (shape, axes, mean, fuses) in cases {
            let g = Graph()
            let x = g.input("x", shape), t = g.input("t", shape), b = g.input("b", [shape.last!])
            let e = try g.sub(g.unary(.softplus, x), g.mul(x, t))
            let body = try g.add(e, g.broadcast(b, shape))
            g.output("y", mean ? try g.mean(body, axes: axes, keepDims: true) : try g.sum(body, axes: axes))
            let bind = ["x": rng.tensor(shape, -4, 4), "t": rng.tensor(shape, 0, 1), "b": rng.tensor([shape.last!])]
            let fp = try Compiler.compile(g, fuse: true), pp = try Compiler.compile(g, fuse: false)
            let fused = try Executor(fp).run(bind)["y"]!, plain = try Executor(pp).run(bind)["y"]!
            XCTAssertEqual(fused.shape, plain.shape)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(shape) \(axes)")
            let hasFused = fp.steps.contains { if case .fusedReduce = $0.kernel { return true }; return false }
            XCTAssertEqual(hasFused, fuses, "\(shape) \(axes):\n\(fp)")
        }
    }
    /// `fused-cse`: a DiceCE-like backward (softplus′, sigmoid, square′, sigmoid′ of the same
    /// logits) evaluates one sigmoid per element, as a program and inside a reduction, with the
    /// results of the program without the rewrite and of the unfused plan (odd row length: tails).
    func testSigmoidFamilySharesOneSigmoid() throws {
        let shape = [2, 3, 1000]
        let g = Graph()
        let x = g.input("x", shape), t = g.input("t", shape), c1 = g.input("c1", [2, 1, 1]), c2 = g.input("c2", [2, 1, 1])
        func chain(_ c: Value) throws -> Value {
            let bce = try g.add(.unaryGrad(.softplus), [x, g.mul(t, c)])
            let dice = try g.add(.unaryGrad(.square), [g.unary(.sigmoid, x), g.mul(t, g.affine(c, scale: 2, shift: 1))])
            return try g.add(bce, g.add(.unaryGrad(.sigmoid), [x, g.add(dice, g.mul(t, x))]))
        }
        g.output("y", try chain(c1))
        g.output("s", try g.sum(chain(c2), axes: [2]))
        let bind = ["x": rng.tensor(shape, -6, 6), "t": rng.tensor(shape, 0, 1), "c1": rng.tensor([2, 1, 1]), "c2": rng.tensor([2, 1, 1])]
        let shared = try Compiler.compileUncached(g), separate = try Compiler.compileUncached(g, skip: ["fused-cse"])
        let plain = try Compiler.compileUncached(g, fuse: false)
        func sigmoids(_ p: Plan) -> (exps: Int, programs: Int) {
            var exps = 0, programs = 0
            for step in p.steps {
                let prog: FusedProgram
                switch step.kernel {
                case .fused(let q): prog = q
                case .fusedReduce(let q, _, _, _): prog = q
                default: continue
                }
                programs += 1
                for i in prog.instrs {
                    switch i {
                    case .unary(.sigmoid, _), .unaryGrad(.sigmoid, _, _), .unaryGrad(.softplus, _, _): exps += 1
                    default: break
                    }
                }
            }
            return (exps, programs)
        }
        XCTAssertEqual(sigmoids(shared).programs, 2, shared.description)
        XCTAssertEqual(sigmoids(shared).exps, 2, shared.description)
        // (graph CSE leaves one materialised sigmoid(x) that both chains read)
        XCTAssertEqual(sigmoids(separate).exps, 4, separate.description)
        let a = try Executor(shared).run(bind), b = try Executor(separate).run(bind), r = try Executor(plain).run(bind)
        for k in ["y", "s"] {
            XCTAssertLessThan(relativeL2(a[k]!.scalars, b[k]!.scalars), 1e-6, k)
            XCTAssertLessThan(relativeL2(a[k]!.scalars, r[k]!.scalars), 1e-6, k)
        }
    }
}
