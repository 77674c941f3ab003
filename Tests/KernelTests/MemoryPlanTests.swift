import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// The memory planner never lets two buffers that are live at the same time share bytes, and a
/// planned run computes what an unplanned one does.
final class MemoryPlanTests: XCTestCase {
    /// Lifetimes recomputed here independently: [defining step, last reading step].
    func checkNoOverlap(_ p: Plan, file: StaticString = #filePath, line: UInt = #line) {
        var def = [Int](repeating: -1, count: p.slotShapes.count), end = def
        var root = Array(0..<p.slotShapes.count)
        for (k, s) in p.steps.enumerated() {
            def[s.out] = k
            if case .reshape = s.kernel { root[s.out] = root[s.args[0]] }
            for a in s.args { end[root[a]] = max(end[root[a]], k) }
        }
        let planned = p.arenaOffsets.enumerated().compactMap { i, o in o.map { (slot: i, off: $0, size: 4 * ShapeMath.count(p.slotShapes[i])) } }
        for a in planned {
            XCTAssertLessThanOrEqual(a.off + a.size, p.arenaBytes, file: file, line: line)
            for b in planned where a.slot < b.slot {
                let liveTogether = def[a.slot] <= max(end[b.slot], def[b.slot]) && def[b.slot] <= max(end[a.slot], def[a.slot])
                let bytesOverlap = a.off < b.off + b.size && b.off < a.off + a.size
                XCTAssertFalse(liveTogether && bytesOverlap, "slots \(a.slot) and \(b.slot) share bytes while both live", file: file, line: line)
            }
        }
    }

    func testConvNetTrainingGraph() throws {
        var rng = SeededRNG(seed: 5)
        let g = Graph()
        let x = g.input("x", [2, 3, 12, 12]), t = g.input("t", [2, 1, 12, 12])
        let w1 = g.parameter("w1", [8, 3, 3, 3]), w2 = g.parameter("w2", [1, 8, 3, 3])
        let h = try g.relu(g.layerNorm2d(g.conv2d(x, w1, nil, ConvGeometry(padding: 1)), weight: nil, bias: nil))
        let y = try g.conv2d(g.maxPool2d(h, kernel: 3, stride: 1, padding: 1), w2, nil, ConvGeometry(padding: 1))
        g.output("loss", try g.diceCELoss(y, t))
        let grads = try Autodiff.gradients(g, seeds: [(g.outputValue("loss")!, g.constant(1, []))], wrt: [w1, w2])
        g.output("g1", grads[0]!); g.output("g2", grads[1]!)
        let plan = try Compiler.compile(g)
        XCTAssertGreaterThan(plan.arenaBytes, 0)
        XCTAssertLessThan(plan.arenaBytes, plan.memory.naive)
        checkNoOverlap(plan)
        let bind = ["x": rng.tensor([2, 3, 12, 12]), "t": Tensor(shape: [2, 1, 12, 12], (0..<288).map { Float($0 % 3 == 0 ? 1 : 0) }),
                    "w1": rng.tensor([8, 3, 3, 3]), "w2": rng.tensor([1, 8, 3, 3])]
        let ex = Executor(plan)
        let a = try ex.run(bind), b = try ex.run(bind)      // the arena is reused across runs
        var unplanned = plan
        unplanned.arenaOffsets = []
        let c = try Executor(unplanned).run(bind)
        for k in ["loss", "g1", "g2"] {
            XCTAssertEqual(a[k]!.scalars, b[k]!.scalars, k)
            XCTAssertEqual(a[k]!.scalars, c[k]!.scalars, k)
        }
    }
}
