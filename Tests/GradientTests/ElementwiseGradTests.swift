import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

/// Finite-difference checks of every differentiable elementwise and reduction op, on random shapes.
final class ElementwiseGradTests: XCTestCase {
    var rng = SeededRNG(seed: 11)

    func randomShape(rank: ClosedRange<Int> = 1...4, dim: ClosedRange<Int> = 1...5) -> [Int] {
        (0..<rng.int(rank)).map { _ in rng.int(dim) }
    }

    func testUnaryGradients() throws {
        let cases: [(UnaryFn, Float, Float)] = [
            (.neg, -2, 2), (.abs, 0.1, 2), (.relu, 0.05, 2), (.sigmoid, -4, 4), (.tanh, -3, 3), (.exp, -2, 2),
            (.log, 0.2, 3), (.sqrt, 0.2, 3), (.rsqrt, 0.3, 3), (.sin, -3, 3), (.cos, -3, 3),
            (.geluErf, -3, 3), (.geluTanh, -3, 3), (.hardswish, -2.5, 2.5), (.square, -2, 2), (.reciprocal, 0.3, 2),
            (.softplus, -4, 4), (.affine(scale: 1.5, shift: -0.25), -1, 1), (.clamp(lo: -0.5, hi: 0.5), -0.45, 0.45),
        ]
        for (f, lo, hi) in cases {
            let x = rng.tensor(randomShape(), lo, hi)
            let r = try gradCheck([x], h: 1e-3) { g, v in try g.unary(f, v[0]) }
            XCTAssertLessThan(r.worst, 1e-2, "\(f.name): \(r)")
        }
        // relu below zero
        let neg = rng.tensor([7], -2, -0.1)
        XCTAssertLessThan(try gradCheck([neg]) { g, v in try g.relu(v[0]) }.worst, 1e-6)
    }

    func testBinaryGradientsWithBroadcast() throws {
        for f in [BinaryFn.add, .sub, .mul, .div, .maximum, .minimum] {
            for _ in 0..<3 {
                let out = randomShape(rank: 2...4)
                // b: a broadcastable suffix with some axes set to 1
                var bs = Array(out.suffix(rng.int(1...out.count)))
                for i in bs.indices where rng.int(0...2) == 0 { bs[i] = 1 }
                let a = rng.tensor(out, 0.5, 2), b = rng.tensor(bs, f == .div ? 0.5 : -2, 2)
                let r = try gradCheck([a, b], h: 1e-3) { g, v in try g.binary(f, v[0], v[1]) }
                XCTAssertLessThan(r.worst, 1e-2, "\(f) \(out) \(bs): \(r)")
            }
        }
    }

    func testReductionGradients() throws {
        for f in [ReduceFn.sum, .mean, .max] {
            for _ in 0..<4 {
                let s = randomShape(rank: 1...4, dim: 2...5)
                let axes = (0..<s.count).filter { _ in rng.int(0...1) == 1 }
                let ax = axes.isEmpty ? [s.count - 1] : axes
                let keep = rng.int(0...1) == 1
                let x = rng.tensor(s)
                let r = try gradCheck([x], h: 1e-3) { g, v in try g.add(.reduce(f, axes: ax, keepDims: keep), [v[0]]) }
                XCTAssertLessThan(r.worst, 1e-2, "\(f) \(s) axes \(ax): \(r)")
            }
        }
    }

    func testSoftmaxGradient() throws {
        for axis in [-1, 0, 1] {
            let x = rng.tensor([3, 4, 5], -2, 2)
            let r = try gradCheck([x], h: 1e-3) { g, v in try g.softmax(v[0], axis: axis) }
            XCTAssertLessThan(r.worst, 1e-2, "axis \(axis): \(r)")
        }
    }

    func testFanOutAccumulates() throws {
        // y = x·x + sin(x) + x uses x three times.
        let x = rng.tensor([4, 3])
        let r = try gradCheck([x], h: 1e-3) { g, v in try g.add(g.add(g.mul(v[0], v[0]), g.unary(.sin, v[0])), v[0]) }
        XCTAssertLessThan(r.worst, 1e-3, "\(r)")
    }

    func testFrozenInputsCostNothing() throws {
        let g = Graph()
        let x = g.input("x", [2, 3]), w = g.parameter("w", [4, 3]), frozen = g.parameter("frozen", [4, 3])
        let y = try g.sumAll(g.add(g.linear(x, w), g.linear(x, frozen)))
        let before = g.nodes.count
        let grads = try Autodiff.gradients(g, seeds: [(y, g.constant(1, []))], wrt: [w])
        XCTAssertNotNil(grads[0])
        // no node of the backward graph consumes the frozen parameter's path toward it
        let added = g.nodes[before...]
        XCTAssertFalse(added.contains { n in
            if case .matmul = n.op { return n.shape == [4, 3] && n.inputs.contains(where: { $0 == frozen }) }
            return false
        })
        // exactly one weight-gradient matmul was built
        XCTAssertEqual(added.filter { if case .matmul = $0.op { return true }; return false }.count, 1)
    }
}
