import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

/// Finite-difference checks of the fused attention op's VJP (recomputed softmax, every operand).
final class AttentionGradTests: XCTestCase {
    var rng = SeededRNG(seed: 67)

    func testAttentionWithoutBias() throws {
        let q = rng.tensor([2, 5, 4]), k = rng.tensor([2, 7, 4]), v = rng.tensor([2, 7, 3])
        let r = try gradCheck([q, k, v], h: 1e-3) { g, x in try g.attention(q: x[0], k: x[1], v: x[2], scale: 0.7) }
        XCTAssertLessThan(r.worst, 1e-2, "\(r)")
    }

    func testAttentionWithDecomposedRelativePositions() throws {
        // rank 4 (batch, heads), N ≠ M, M = 3·4
        let q = rng.tensor([1, 2, 5, 4]), k = rng.tensor([1, 2, 12, 4]), v = rng.tensor([1, 2, 12, 3])
        let rh = rng.tensor([1, 2, 5, 3]), rw = rng.tensor([1, 2, 5, 4])
        let r = try gradCheck([q, k, v, rh, rw], h: 1e-3) { g, x in
            try g.attention(q: x[0], k: x[1], v: x[2], relH: x[3], relW: x[4], scale: 0.5)
        }
        XCTAssertLessThan(r.worst, 1e-2, "\(r)")
        // only some operands active: the VJP builds what is asked for
        let r2 = try gradCheck([q, k, v, rh, rw], wrt: [1, 4], h: 1e-3) { g, x in
            try g.attention(q: x[0], k: x[1], v: x[2], relH: x[3], relW: x[4], scale: 0.5)
        }
        XCTAssertLessThan(r2.worst, 1e-2, "\(r2)")
    }

    func testAttentionWithFullBias() throws {
        // TinyViT's form: a learned bias [1, H, N, M] shared by every window
        let q = rng.tensor([3, 2, 5, 4]), k = rng.tensor([3, 2, 6, 4]), v = rng.tensor([3, 2, 6, 3]), b = rng.tensor([1, 2, 5, 6])
        let r = try gradCheck([q, k, v, b], h: 1e-3) { g, x in try g.attention(q: x[0], k: x[1], v: x[2], bias: x[3], scale: 0.5) }
        XCTAssertLessThan(r.worst, 1e-2, "\(r)")
    }
}
