import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// A linear layer whose result is only moved and cropped along its rows runs after the crop:
/// same result as the unfused plan, fewer GEMM rows; chains that crop nothing, or whose
/// intermediates are read elsewhere, are left alone.
final class CropBeforeLinearTests: XCTestCase {
    var rng = SeededRNG(seed: 59)

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    /// GEMM row counts of the plan (A's rows: all but its last axis).
    func gemmRows(_ p: Plan) -> [Int] {
        p.steps.compactMap { s -> Int? in
            switch s.kernel {
            case .matmul, .matmulAccumulate: return ShapeMath.count(Array(p.slotShapes[s.args[0]].dropLast()))
            default: return nil
            }
        }
    }

    /// SAM's window unpartition after the projection (padded 9×10 → 12×12 windows of 4), then the
    /// residual add: the projection runs on the 90 real tokens, with the bias and the residual as
    /// its two GEMM terms; with and without a bias.
    func testWindowUnpartitionCropsBeforeProjection() throws {
        for withBias in [true, false] {
            let g = Graph()
            let x = g.input("x", [1, 9, 10, 12]), w = g.input("w", [12, 12]), b = g.input("b", [12])
            let (win, padded) = try g.windowPartition(x, window: 4)             // [9, 4, 4, 12]
            let h = try g.linear(g.gelu(win), w, withBias ? b : nil)
            let back = try g.windowUnpartition(h, window: 4, padded: padded, original: (9, 10))
            g.output("y", try g.add(x, back))
            let bind = ["x": rng.tensor([1, 9, 10, 12]), "w": rng.tensor([12, 12]), "b": rng.tensor([12])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, pp) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
            XCTAssertEqual(gemmRows(pp), [144])
            XCTAssertEqual(gemmRows(fp), [90], fp.description)
            if withBias {
                XCTAssertTrue(fp.steps.contains { if case .matmulAccumulate = $0.kernel { return $0.args.count == 4 }; return false },
                              fp.description)      // A, W, bias, residual
            }
        }
    }

    /// TinyViT's windowed block: the same chain, with an unused reshape of the projection left in
    /// the graph (its builder makes one); a dead reader does not stop the rewrite.
    func testDeadReaderOfTheProjectionIsIgnored() throws {
        let g = Graph()
        let x = g.input("x", [1, 9, 10, 12]), w = g.input("w", [12, 12]), b = g.input("b", [12])
        let (win, padded) = try g.windowPartition(x, window: 4)             // [9, 4, 4, 12]
        let h = try g.linear(g.gelu(win), w, b)
        _ = try g.reshape(h, [9, 16, 12])                                   // nobody reads it
        let back = try g.windowUnpartition(h, window: 4, padded: padded, original: (9, 10))
        g.output("y", try g.add(x, back))
        let bind = ["x": rng.tensor([1, 9, 10, 12]), "w": rng.tensor([12, 12]), "b": rng.tensor([12])]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertEqual(gemmRows(fp), [90], fp.description)
    }

    /// A plain strided row slice of a rank-3 linear, and a permute that moves the last axis (not
    /// rewritten) after it.
    func testRowSliceAndNonRowOps() throws {
        let g = Graph()
        let x = g.input("x", [3, 7, 5]), w = g.input("w", [6, 5]), b = g.input("b", [1, 1, 6])
        let y = try g.slice(g.linear(x, w, b), dims: [0, 1], starts: [1, 2], ends: [3, 7], steps: [1, 2])
        g.output("y", y)
        let bind = ["x": rng.tensor([3, 7, 5]), "w": rng.tensor([6, 5]), "b": rng.tensor([1, 1, 6])]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertEqual(fused.shape, [2, 3, 6])
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertEqual(gemmRows(fp), [6])

        let h = Graph()
        let m = try h.linear(h.input("x", [3, 7, 5]), h.input("w", [6, 5]))
        h.output("y", try h.slice(h.permute(m, [0, 2, 1]), dims: [1], starts: [0], ends: [3]))   // last axis moved
        XCTAssertTrue(try CropBeforeLinear.apply(h) === h)
    }

    /// Nothing cropped, or the linear's result also read elsewhere: unchanged.
    func testLeavesOtherGraphsAlone() throws {
        let g = Graph()
        let m = try g.linear(g.input("x", [2, 4, 5]), g.input("w", [6, 5]))
        g.output("y", try g.permute(g.reshape(m, [8, 6]), [0, 1]))
        XCTAssertTrue(try CropBeforeLinear.apply(g) === g)

        let h = Graph()
        let n = try h.linear(h.input("x", [2, 4, 5]), h.input("w", [6, 5]))
        h.output("y", try h.slice(n, dims: [1], starts: [0], ends: [2]))
        h.output("m", n)
        XCTAssertTrue(try CropBeforeLinear.apply(h) === h)
    }
}
