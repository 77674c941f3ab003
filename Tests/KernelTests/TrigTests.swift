import Foundation
import Kernels
import Primitives
import XCTest

/// The vector sin / cos against Foundation's Double versions: a dense grid over several periods,
/// quadrant boundaries, the 8192 limit of the vector path (lane-wise Double beyond), non-finite
/// values; and the unary kernels' gradients (sin′ = cos, cos′ = −sin).
final class TrigTests: XCTestCase {
    func testSinCosAgainstDouble() {
        var xs: [Float] = (0..<200_000).map { Float(-60 + 120 * Double($0) / 199_999) }
        xs += (0..<20_000).map { Float(-8192 + 16384 * Double($0) / 19_999) }
        xs += (-8...8).flatMap { k -> [Float] in
            let b = Float(Double(k) * Double.pi / 4)
            return [b, b.nextUp, b.nextDown]
        }
        xs += [0, -0, 1e-30, -1e-20, 8192, 8192.001, -9000, 1e6, 3e30]
        xs += (0..<(16 - xs.count % 16)).map { _ in 0.25 }
        var maxErr = (sin: 0.0, cos: 0.0)
        for i in stride(from: 0, to: xs.count, by: 16) {
            let v = SIMD16<Float>(xs[i..<(i + 16)])
            let s = VMath.sin(v), c = VMath.cos(v)
            for l in 0..<16 {
                let x = Double(v[l])
                maxErr.sin = max(maxErr.sin, abs(Double(s[l]) - sin(x)))
                maxErr.cos = max(maxErr.cos, abs(Double(c[l]) - cos(x)))
            }
        }
        XCTAssertLessThan(maxErr.sin, 4e-7)
        XCTAssertLessThan(maxErr.cos, 4e-7)
        let bad = SIMD16<Float>(repeating: .nan).replacing(with: .infinity, where: SIMD16<Int32>(0..<16) .< 8)
        for l in 0..<16 { XCTAssertTrue(VMath.sin(bad)[l].isNaN && VMath.cos(bad)[l].isNaN) }
    }

    func testUnaryKernelsAndGradients() {
        let n = 1000   // a tail past the last 16 lanes
        let x = (0..<n).map { Float(-20 + 40 * Double($0) / Double(n - 1)) }
        let dy = (0..<n).map { Float(0.5 + Double($0 % 7) / 7) }
        for f in [UnaryFn.sin, .cos] {
            var y = [Float](repeating: 0, count: n), dx = y
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { UnaryKernels.apply(f, xp.baseAddress!, $0.baseAddress!, count: n) }
                dy.withUnsafeBufferPointer { dp in
                    dx.withUnsafeMutableBufferPointer {
                        UnaryKernels.gradient(f, x: xp.baseAddress!, dy: dp.baseAddress!, dx: $0.baseAddress!, count: n)
                    }
                }
            }
            for i in 0..<n {
                let xd = Double(x[i])
                XCTAssertLessThan(abs(Double(y[i]) - (f == .sin ? sin(xd) : cos(xd))), 3e-7, "\(f) \(x[i])")
                let d = Double(dy[i]) * (f == .sin ? cos(xd) : -sin(xd))
                XCTAssertLessThan(abs(Double(dx[i]) - d), 5e-7, "\(f)′ \(x[i])")
            }
        }
    }
}
