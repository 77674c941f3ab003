import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// GELU (erf)'s own loops (`UnaryKernels.apply` on .geluErf, conv epilogues) against the scalar
/// Double reference: a tensor big enough for streaming stores and several worker chunks, starting
/// off a 64-byte boundary, out of place and in place; and a small one with a tail.
final class GeluLoopTests: XCTestCase {
    var rng = SeededRNG(seed: 17)

    func testWholeTensorGeluMatchesReference() {
        for n in [(16 << 20) / 4 + 37, 1000 + 7] {
            let x = (0..<(n + 3)).map { _ in rng.uniform(-6, 6) }
            let ref = x.dropFirst(3).map { Float(UnaryFn.geluErf.reference(Double($0))) }
            var y = [Float](repeating: 0, count: n + 3)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { UnaryKernels.apply(.geluErf, xp.baseAddress! + 3, $0.baseAddress! + 3, count: n) }
            }
            XCTAssertLessThan(relativeL2(Array(y.dropFirst(3)), ref), 1e-6, "n \(n) out of place")
            var z = x
            z.withUnsafeMutableBufferPointer { UnaryKernels.apply(.geluErf, UnsafePointer($0.baseAddress! + 3), $0.baseAddress! + 3, count: n) }
            XCTAssertLessThan(relativeL2(Array(z.dropFirst(3)), ref), 1e-6, "n \(n) in place")
        }
    }
}
