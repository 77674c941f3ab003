import Foundation
import Graph
import Tensor
import TestSupport
import Train
import XCTest

final class OptimizerTests: XCTestCase {
    /// Hand-worked SGD with momentum 0.9, weight decay 0.1, lr 0.5 (PyTorch: buf = g at step 1,
    /// then buf = μ·buf + g; p -= lr·buf; g includes wd·p).
    func testSGDMomentumByHand() throws {
        let p = Tensor(shape: [2], [1, -2])
        let opt = SGD(lr: 0.5, momentum: 0.9, weightDecay: 0.1)
        try opt.step([("p", p)], [Tensor(shape: [2], [0.5, 0.5])])
        // g = [0.5 + 0.1, 0.5 - 0.2] = [0.6, 0.3]; p = [1 - 0.3, -2 - 0.15]
        XCTAssertEqual(p.scalars[0], 0.7, accuracy: 1e-6); XCTAssertEqual(p.scalars[1], -2.15, accuracy: 1e-6)
        try opt.step([("p", p)], [Tensor(shape: [2], [0, 0])])
        // g = [0.07, -0.215]; buf = [0.54 + 0.07, 0.27 - 0.215]; p -= 0.5·buf
        XCTAssertEqual(p.scalars[0], 0.7 - 0.5 * 0.61, accuracy: 1e-6)
        XCTAssertEqual(p.scalars[1], -2.15 - 0.5 * 0.055, accuracy: 1e-6)
    }

    /// Adam's first step moves each coordinate by lr·sign(g) (bias correction makes m̂/√v̂ = ±1).
    func testAdamFirstStepIsSignStep() throws {
        let p = Tensor(shape: [3], [0, 0, 0])
        try Adam(lr: 0.1).step([("p", p)], [Tensor(shape: [3], [3, -0.01, 200])])
        for (v, e) in zip(p.scalars, [-0.1, 0.1, -0.1] as [Float]) { XCTAssertEqual(v, e, accuracy: 1e-6) }
    }

    /// The SIMD update (16 lanes and a tail) equals the scalar formulas bit for bit, Adam and
    /// AdamW, over three steps; an infinite gradient in a SIMD block is still caught.
    func testAdamMatchesScalarFormulas() throws {
        var rng = SeededRNG(seed: 3)
        for decoupled in [false, true] {
            let n = 37
            let p = rng.tensor([n]), grads = (0..<3).map { _ in rng.tensor([n]) }
            var rp = p.scalars, rm = [Float](repeating: 0, count: n), rv = rm
            let (lr, b1, b2, eps, wd): (Float, Float, Float, Float, Float) = (0.01, 0.9, 0.999, 1e-8, 0.05)
            let opt = Adam(lr: lr, weightDecay: wd, decoupled: decoupled)
            for (t, g) in grads.enumerated() {
                try opt.step([("p", p)], [g])
                let bc1 = 1 - Foundation.pow(b1, Float(t + 1)), bc2 = 1 - Foundation.pow(b2, Float(t + 1))
                for i in 0..<n {
                    var gi = g.scalars[i]
                    if decoupled { rp[i] *= 1 - lr * wd } else { gi += wd * rp[i] }
                    rm[i] = b1 * rm[i] + (1 - b1) * gi
                    rv[i] = b2 * rv[i] + (1 - b2) * gi * gi
                    rp[i] -= lr / bc1 * rm[i] / (rv[i].squareRoot() / bc2.squareRoot() + eps)
                }
            }
            XCTAssertEqual(p.scalars, rp, "decoupled \(decoupled)")
        }
        let q = Tensor(zeros: [40])
        var bad = [Float](repeating: 1, count: 40); bad[5] = -.infinity
        XCTAssertThrowsError(try Adam().step([("q", q)], [Tensor(shape: [40], bad)])) { XCTAssertTrue("\($0)".contains("-inf"), "\($0)") }
        XCTAssertEqual(q.scalars, [Float](repeating: 0, count: 40))
    }

    /// Parameters larger than one optimizer task (`Adam.piece` elements) are shared out to the
    /// worker threads; the result still equals the scalar formulas bit for bit, for every
    /// parameter. A non-finite gradient in the last parameter leaves all of them untouched.
    func testAdamOverThreadsMatchesScalarAndChecksFirst() throws {
        var rng = SeededRNG(seed: 5)
        let sizes = [3 * 65_536 + 17, 40, 70_000]
        let ps = sizes.map { rng.tensor([$0]) }, gs = sizes.map { rng.tensor([$0]) }
        let before = ps.map(\.scalars)
        let (lr, b1, b2, eps, wd): (Float, Float, Float, Float, Float) = (0.01, 0.9, 0.999, 1e-8, 0.05)
        let opt = Adam(lr: lr, weightDecay: wd)
        try opt.step(zip(["a", "b", "c"], ps).map { ($0, $1) }, gs)
        for (k, n) in sizes.enumerated() {
            var expect = before[k]
            for i in 0..<n {
                let gi = gs[k].scalars[i] + wd * expect[i]
                let m = (1 - b1) * gi, v = (1 - b2) * gi * gi
                expect[i] -= lr / (1 - b1) * m / (v.squareRoot() / (1 - b2).squareRoot() + eps)
            }
            XCTAssertEqual(ps[k].scalars, expect, "parameter \(k)")
        }
        let after = ps.map(\.scalars)
        var bad = gs[2].scalars; bad[69_999] = .nan
        XCTAssertThrowsError(try opt.step(zip(["a", "b", "c"], ps).map { ($0, $1) }, [gs[0], gs[1], Tensor(shape: [70_000], bad)])) {
            XCTAssertTrue("\($0)".contains("c") && "\($0)".contains("nan"), "\($0)")
        }
        XCTAssertEqual(ps.map(\.scalars), after, "no parameter moves when any gradient is not finite")
        XCTAssertEqual(opt.stepCount, 1, "a refused step does not count")
    }

    func testNonFiniteGradientIsNamed() {
        let p = Tensor(shape: [1], [0])
        XCTAssertThrowsError(try Adam().step([("decoder.w", p)], [Tensor(shape: [1], [.nan])])) {
            XCTAssertTrue("\($0)".contains("decoder.w") && "\($0)".contains("nan"), "\($0)")
        }
        XCTAssertThrowsError(try Adam().step([("w", p)], [Tensor(shape: [2], [0, 0])])) {
            XCTAssertTrue("\($0)".contains("gradient shape [2]"), "\($0)")
        }
    }

    /// Linear regression to a known weight: the trainer drives the loss down and reaches it.
    func testTrainerFitsLinearRegression() throws {
        var rng = SeededRNG(seed: 3)
        let g = Graph()
        let x = g.input("x", [16, 3]), t = g.input("t", [16, 1])
        let w = g.parameter("w", [1, 3])
        g.output("loss", try g.meanAll(g.square(g.sub(g.linear(x, w), t))))
        let trainer = try Trainer(graph: g, loss: "loss", parameters: ["w": Tensor(zeros: [1, 3])], trainable: ["w"],
                                  optimizer: SGD(lr: 0.1, momentum: 0.5))
        let truth: [Float] = [0.5, -1, 2]
        var losses: [Float] = []
        for _ in 0..<200 {
            let xb = rng.tensor([16, 3])
            let tb = Tensor(shape: [16, 1], (0..<16).map { r in (0..<3).reduce(0) { $0 + xb.floats[r * 3 + $1] * truth[$1] } })
            losses.append(try trainer.step(["x": xb, "t": tb]))
        }
        XCTAssertLessThan(losses.last!, 1e-4 * losses.first!)
        for (a, b) in zip(trainer.parameters["w"]!.scalars, truth) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }

    func testTrainerRejectsNaNLoss() throws {
        let g = Graph()
        let x = g.input("x", [2]), w = g.parameter("w", [2])
        g.output("loss", try g.sumAll(g.log(g.mul(x, w))))
        let trainer = try Trainer(graph: g, loss: "loss", parameters: ["w": Tensor(shape: [2], [1, 1])], trainable: ["w"], optimizer: Adam())
        XCTAssertThrowsError(try trainer.step(["x": Tensor(shape: [2], [-1, 1])])) {
            XCTAssertTrue("\($0)".contains("trainer step 1") && "\($0)".contains("nan"), "\($0)")
        }
        XCTAssertThrowsError(try Trainer(graph: g, loss: "loss", parameters: ["w": Tensor(zeros: [3])], trainable: ["w"], optimizer: Adam())) {
            XCTAssertTrue("\($0)".contains("\"w\"") && "\($0)".contains("[3]"), "\($0)")
        }
    }
}
