import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

final class LayoutGradTests: XCTestCase {
    var rng = SeededRNG(seed: 23)

    func testLayoutOps() throws {
        let x = rng.tensor([2, 3, 4, 5])
        XCTAssertLessThan(try gradCheck([x]) { g, v in try g.permute(v[0], [2, 0, 3, 1]) }.worst, 1e-3)
        XCTAssertLessThan(try gradCheck([x]) { g, v in try g.reshape(v[0], [6, -1]) }.worst, 1e-3)
        XCTAssertLessThan(try gradCheck([x]) { g, v in
            try g.slice(v[0], dims: [1, 2, 3], starts: [1, 0, 1], ends: [3, 4, 5], steps: [1, 3, 2]) }.worst, 1e-3)
        XCTAssertLessThan(try gradCheck([x]) { g, v in
            try g.pad(v[0], low: [0, 1, 2, 0], high: [1, 0, 3, 2], value: 0.5) }.worst, 1e-3)
        let y = rng.tensor([2, 2, 4, 5])
        XCTAssertLessThan(try gradCheck([x, y]) { g, v in try g.concat([v[0], v[1]], axis: 1) }.worst, 1e-3)
        let b = rng.tensor([3, 1, 5])
        XCTAssertLessThan(try gradCheck([b]) { g, v in try g.broadcast(v[0], [2, 3, 4, 5]) }.worst, 1e-3)
        let table = rng.tensor([7, 3])
        XCTAssertLessThan(try gradCheck([table]) { g, v in try g.gatherRows(v[0], [0, 6, 2, 2, 5]) }.worst, 1e-3)
    }

    func testBackwardOpsAreDifferentiable() throws {
        // slice_backward and scatter_add_rows are themselves linear ops with VJPs.
        let dy = rng.tensor([2, 2, 3])
        XCTAssertLessThan(try gradCheck([dy]) { g, v in
            try g.add(.sliceBackward(starts: [0, 1, 0], steps: [1, 2, 2], inputShape: [3, 5, 6]), [v[0]]) }.worst, 1e-3)
        let rows = rng.tensor([4, 3])
        XCTAssertLessThan(try gradCheck([rows]) { g, v in
            try g.add(.scatterAddRows(indices: [1, 1, 0, 3], rows: 5), [v[0]]) }.worst, 1e-3)
    }

    func testWindowPartitionRoundTrip() throws {
        let x = rng.tensor([2, 7, 9, 3])
        let r = try gradCheck([x]) { g, v in
            let (w, p) = try g.windowPartition(v[0], window: 4)
            return try g.windowUnpartition(w, window: 4, padded: p, original: (7, 9))
        }
        XCTAssertLessThan(r.worst, 1e-3)
        let y = try evaluate([x]) { g, v in
            let (w, p) = try g.windowPartition(v[0], window: 4)
            return try g.windowUnpartition(w, window: 4, padded: p, original: (7, 9))
        }
        XCTAssertEqual(y.scalars, x.scalars)
    }
}
