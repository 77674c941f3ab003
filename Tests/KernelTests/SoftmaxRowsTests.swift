import Foundation
import Kernels
import Tensor
import TestSupport
import XCTest

/// Softmax over short rows (fewer than 16 entries), 16 rows per vector: each row equals the same
/// row softmaxed alone (the one-row path), and matches a Double reference; a masked (−∞) entry
/// gets a negligible weight (the vector exp clamps its argument at −87.3).
final class SoftmaxRowsTests: XCTestCase {
    var rng = SeededRNG(seed: 53)

    func testShortRowsMatchSingleRowsAndReference() {
        for n in [1, 7, 15] {
            let rows = 37                                    // two vector groups and a scalar tail
            let x = rng.tensor([rows, n], -6, 6)
            if n > 1 { x.floats[3 * n + 1] = -.infinity }   // a masked entry
            let y = Tensor(zeros: [rows, n])
            SoftmaxKernel.apply(axis: -1, x, y)
            for r in 0..<rows {
                let xr = Tensor(shape: [1, n], Array(x.scalars[(r * n)..<((r + 1) * n)]))
                let yr = Tensor(zeros: [1, n])
                SoftmaxKernel.apply(axis: -1, xr, yr)
                XCTAssertEqual(Array(y.scalars[(r * n)..<((r + 1) * n)]), yr.scalars, "n \(n) row \(r)")
                let xs = xr.scalars.map(Double.init), m = xs.max()!
                let e = xs.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
                for k in 0..<n { XCTAssertEqual(Double(y.floats[r * n + k]), e[k] / s, accuracy: 1e-6, "n \(n) row \(r) col \(k)") }
            }
            if n > 1 { XCTAssertLessThan(y.floats[3 * n + 1], 1e-30) }
        }
    }
}
