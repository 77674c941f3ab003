import Foundation
import Kernels
import XCTest

/// The vector erf against Foundation's Double `erf` on a dense grid (every lane, both signs,
/// tiny arguments where a relative bound matters, and past the clamp where erf is ±1).
final class ErfTests: XCTestCase {
    func testErfAgainstDouble() {
        var maxAbs = 0.0, maxRel = 0.0
        let n = 400_000
        var xs: [Float] = (0..<n).map { Float(-6 + 12 * Double($0) / Double(n - 1)) }
        xs += [0, 1e-30, -1e-20, 1e-8, 3.9199, 3.92, 3.9201, 50, -1e30, .greatestFiniteMagnitude]
        xs += (0..<(16 - xs.count % 16)).map { _ in 0.5 }
        for i in stride(from: 0, to: xs.count, by: 16) {
            let v = SIMD16<Float>(xs[i..<(i + 16)])
            let y = VMath.erf(v)
            for l in 0..<16 {
                let ref = erf(Double(v[l]))
                let e = abs(Double(y[l]) - ref)
                maxAbs = max(maxAbs, e)
                if ref != 0 { maxRel = max(maxRel, e / abs(ref)) } else { XCTAssertEqual(y[l], 0) }
            }
        }
        XCTAssertLessThan(maxAbs, 5e-7)
        XCTAssertLessThan(maxRel, 5e-7)
    }

    /// gelu_erf through the unary kernel: relative error per element where the value is not tiny.
    func testGeluErfRelative() {
        let n = 4096
        let x = (0..<n).map { Float(-4 + 8 * Double($0) / Double(n - 1)) }
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { UnaryKernels.apply(.geluErf, xp.baseAddress!, $0.baseAddress!, count: n) }
        }
        for i in 0..<n {
            let xd = Double(x[i]), ref = 0.5 * xd * (1 + erf(xd / 2.0.squareRoot()))
            XCTAssertLessThan(abs(Double(y[i]) - ref), 1e-6 * max(abs(ref), 1), "x = \(x[i])")
        }
    }
}
