import Compiler
import Graph
import Kernels
import Runtime
import Tensor
import TestSupport
import XCTest

/// The low-peak order: two branches whose big intermediates the builder creates side by side
/// run one after the other, halving the peak; results are unchanged.
final class ScheduleTests: XCTestCase {
    func testBranchesRunOneAfterTheOther() throws {
        let g = Graph()
        let xa = g.input("xa", [64, 4096]), xb = g.input("xb", [64, 4096])
        let a = try g.softmax(xa, axis: 1)                      // 1 MiB each (not elementwise: no fusion into the sums)
        let b = try g.softmax(xb, axis: 1)
        let ra = try g.sum(a, axes: [0]), rb = try g.sum(b, axes: [0])
        g.output("y", try g.add(ra, rb))
        let fused = try Compiler.compile(g, fuse: true), plain = try Compiler.compile(g, fuse: false)
        XCTAssertEqual(plain.memory.peak, 4 * (2 * 64 * 4096 + 4096), "builder order: both branches live at once")
        XCTAssertLessThan(fused.memory.peak, plain.memory.peak * 6 / 10, fused.description)
        XCTAssertLessThan(fused.arenaBytes, plain.arenaBytes * 6 / 10)
        let kinds = fused.steps.map { "\($0.kernel)" }
        XCTAssertLessThan(kinds.firstIndex(of: "reduce_sum[0]")!, kinds.lastIndex(of: "softmax(1)")!, kinds.joined(separator: ", "))
        let bind = ["xa": Tensor(shape: [64, 4096], (0..<262144).map { Float($0 % 97) / 97 }),
                    "xb": Tensor(shape: [64, 4096], (0..<262144).map { Float($0 % 89) / 89 })]
        XCTAssertEqual(try Executor(fused).run(bind)["y"]!.scalars, try Executor(plain).run(bind)["y"]!.scalars)
    }
}
