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
                // in place: the result takes its operand's bytes at the step where the operand dies
                let handedOver = (p.inPlace[b.slot] == a.slot && end[a.slot] == def[b.slot] && a.off == b.off)
                    || (p.inPlace[a.slot] == b.slot && end[b.slot] == def[a.slot] && a.off == b.off)
                let chain = handedOver || inPlaceChain(p, a.slot, b.slot, def: def, end: end)
                XCTAssertFalse(liveTogether && bytesOverlap && !chain, "slots \(a.slot) and \(b.slot) share bytes while both live", file: file, line: line)
            }
        }
    }

    /// b inherits a's bytes through a chain of in-place steps, each taking over where the
    /// previous dies (so the two are never both read after the hand-over).
    func inPlaceChain(_ p: Plan, _ a: Int, _ b: Int, def: [Int], end: [Int]) -> Bool {
        for (first, last) in [(a, b), (b, a)] {
            var cur = last
            while let prev = p.inPlace[cur] {
                guard end[prev] == def[cur] else { break }
                if prev == first { return true }
                cur = prev
            }
        }
        return false
    }

    /// Elementwise chains write in place: y = exp(x·2) + 1 over a dead intermediate reuses its
    /// bytes, and the arena holds one buffer where the chain had three.
    func testElementwiseStepsWriteInPlace() throws {
        let g = Graph()
        let x = g.input("x", [256, 256]), w = g.input("w", [256, 256])
        let h = try g.matmul(x, w)                                 // planned buffer
        let e = try g.exp(h)                                       // in place over h
        let s = try g.sum(e, axes: [1])                            // e still read: a reduction is not elementwise
        let t = try g.add(.unary(.sin), [e])                       // e dies here: in place again
        g.output("y", try g.add(g.sum(t, axes: [0]), s))
        let plan = try Compiler.compile(g, fuse: false)
        checkNoOverlap(plan)
        XCTAssertEqual(plan.inPlace.count, 2, plan.description)
        XCTAssertEqual(plan.arenaBytes, 4 * 256 * 256 + 2 * 1024, plan.description)
        var rng = SeededRNG(seed: 9)
        let bind = ["x": rng.tensor([256, 256], -0.1, 0.1), "w": rng.tensor([256, 256], -0.1, 0.1)]
        let y = try Executor(plan).run(bind)["y"]!
        let xs = bind["x"]!.scalars, ws = bind["w"]!.scalars
        var ref = [Double](repeating: 0, count: 256)
        var rowSums = [Double](repeating: 0, count: 256)
        for i in 0..<256 {
            for j in 0..<256 {
                var hij = 0.0
                for k in 0..<256 { hij += Double(xs[i * 256 + k]) * Double(ws[k * 256 + j]) }
                rowSums[i] += Foundation.exp(hij)
                ref[j] += Foundation.sin(Foundation.exp(hij))
            }
        }
        for j in 0..<256 { XCTAssertEqual(Double(y.scalars[j]), ref[j] + rowSums[j], accuracy: 1e-3 * abs(ref[j] + rowSums[j])) }
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
