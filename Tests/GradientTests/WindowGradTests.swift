import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

final class WindowGradTests: XCTestCase {
    var rng = SeededRNG(seed: 41)

    func testPooling() throws {
        let x = rng.tensor([2, 3, 7, 6])
        XCTAssertLessThan(try gradCheck([x], h: 1e-3) { g, v in try g.maxPool2d(v[0], kernel: 3, stride: 2, padding: 1) }.worst, 1e-2)
        XCTAssertLessThan(try gradCheck([x]) { g, v in try g.adaptiveAvgPool2d(v[0], height: 3, width: 4) }.worst, 1e-3)
        XCTAssertLessThan(try gradCheck([x]) { g, v in try g.adaptiveAvgPool2d(v[0], height: 1, width: 1) }.worst, 1e-3)
        let dy = rng.tensor([2, 3, 3, 4])
        XCTAssertLessThan(try gradCheck([dy]) { g, v in
            try g.add(.adaptiveAvgPool2dBackward(inputShape: [2, 3, 7, 6]), [v[0]]) }.worst, 1e-3)
    }

    func testResize() throws {
        let x = rng.tensor([1, 2, 9, 7])
        for (h, w, ac, aa) in [(13, 5, false, false), (4, 3, false, true), (12, 14, true, false), (5, 9, false, true)] {
            let r = try gradCheck([x]) { g, v in try g.resize(v[0], height: h, width: w, alignCorners: ac, antialias: aa) }
            XCTAssertLessThan(r.worst, 1e-3, "\(h)x\(w) align \(ac) aa \(aa): \(r)")
            let r2 = try gradCheck([rng.tensor([1, 2, h, w])]) { g, v in
                try g.add(.resizeBackward(ResizeSpec(height: h, width: w, alignCorners: ac, antialias: aa), inputShape: [1, 2, 9, 7]), [v[0]])
            }
            XCTAssertLessThan(r2.worst, 1e-3)
        }
    }
}
