import Foundation
import Graph
import Tensor
import TestSupport
import Train
import XCTest

/// Training N steps in one go and training k steps, checkpointing to disk, resuming in a fresh
/// trainer and training to N give bit-identical parameters and optimizer state.
final class ResumeTests: XCTestCase {
    /// A 2-layer MLP regression with PyTorch-style dotted parameter names.
    static func mlp() -> (graph: Graph, trainable: [String], initial: [String: Tensor]) {
        let g = Graph()
        let x = g.input("x", [8, 4]), t = g.input("t", [8, 2])
        let w1 = g.parameter("net.0.weight", [16, 4]), b1 = g.parameter("net.0.bias", [16])
        let w2 = g.parameter("net.2.weight", [2, 16]), b2 = g.parameter("net.2.bias", [2])
        let y = try! g.linear(g.relu(g.linear(x, w1, b1)), w2, b2)
        g.output("loss", try! g.meanAll(g.square(g.sub(y, t))))
        var rng = SeededRNG(seed: 42)
        let initial: [String: Tensor] = [
            "net.0.weight": rng.tensor([16, 4], -0.5, 0.5), "net.0.bias": rng.tensor([16], -0.1, 0.1),
            "net.2.weight": rng.tensor([2, 16], -0.25, 0.25), "net.2.bias": rng.tensor([2], -0.1, 0.1),
        ]
        return (g, ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"], initial)
    }

    static func batches(_ n: Int) -> [[String: Tensor]] {
        var rng = SeededRNG(seed: 7)
        return (0..<n).map { _ in
            let x = rng.tensor([8, 4])
            let t = Tensor(shape: [8, 2], (0..<16).map { i in
                let r = i / 2, c = i % 2
                return (c == 0 ? 1 : -1) * x.floats[r * 4] * x.floats[r * 4 + 1] + 0.5 * x.floats[r * 4 + 2 + c]
            })
            return ["x": x, "t": t]
        }
    }

    func checkResumeIsBitIdentical(_ makeOptimizer: () -> Optimizer, steps n: Int, checkpointAt k: Int) throws -> (Trainer, Trainer) {
        let (g, trainable, initial) = Self.mlp()
        let data = Self.batches(n)
        let fingerprint = "mlp-4-16-2/seed-42"

        let straight = try Trainer(graph: g, loss: "loss", parameters: initial, trainable: trainable, optimizer: makeOptimizer())
        for b in data { try straight.step(b) }

        let first = try Trainer(graph: g, loss: "loss", parameters: initial, trainable: trainable, optimizer: makeOptimizer())
        for b in data[..<k] { try first.step(b) }
        let path = try temporaryDirectory(self) + "/step\(k).h5"
        try Checkpoint(trainer: first, epoch: 1, configFingerprint: fingerprint, metadata: ["why": "resume test"]).save(to: path)
        for b in data[k...] { try first.step(b) }  // the original keeps going; the file must not change with it

        let loaded = try Checkpoint.load(path: path)
        XCTAssertEqual(loaded.step, k)
        XCTAssertEqual(loaded.optimizer?.stepCount, k)
        let resumed = try Trainer(resuming: loaded, graph: g, loss: "loss", trainable: trainable, expectedFingerprint: fingerprint)
        for b in data[k...] { try resumed.step(b) }

        assertIdentical(resumed.parameters, straight.parameters, "parameters")
        assertIdentical(resumed.optimizer.state, straight.optimizer.state, "optimizer state")
        XCTAssertEqual(resumed.optimizer.stepCount, n)
        XCTAssertEqual(resumed.step, straight.step, "a resumed trainer continues the run's step count")
        assertIdentical(first.parameters, straight.parameters, "continued original")
        return (straight, resumed)
    }

    func testAdamResumeIsBitIdentical() throws {
        let (straight, _) = try checkResumeIsBitIdentical({ Adam(lr: 0.01) }, steps: 30, checkpointAt: 11)
        XCTAssertNotEqual(straight.parameters["net.0.weight"]!.scalars, Self.mlp().initial["net.0.weight"]!.scalars)
    }

    func testAdamWResumeIsBitIdentical() throws {
        _ = try checkResumeIsBitIdentical({ Adam.adamW(lr: 0.01, weightDecay: 0.05) }, steps: 20, checkpointAt: 7)
    }

    func testSGDMomentumResumeIsBitIdentical() throws {
        _ = try checkResumeIsBitIdentical({ SGD(lr: 0.05, momentum: 0.9, weightDecay: 1e-3) }, steps: 20, checkpointAt: 9)
        _ = try checkResumeIsBitIdentical({ SGD(lr: 0.05) }, steps: 6, checkpointAt: 3)
    }

    /// The test has teeth: resuming the weights with a fresh Adam (no moments, step 0) diverges.
    func testResumingWithoutOptimizerStateDiverges() throws {
        let (g, trainable, initial) = Self.mlp()
        let data = Self.batches(12)
        let straight = try Trainer(graph: g, loss: "loss", parameters: initial, trainable: trainable, optimizer: Adam(lr: 0.01))
        for b in data { try straight.step(b) }
        let first = try Trainer(graph: g, loss: "loss", parameters: initial, trainable: trainable, optimizer: Adam(lr: 0.01))
        for b in data[..<6] { try first.step(b) }
        let naive = try Trainer(graph: g, loss: "loss", parameters: first.parameters, trainable: trainable, optimizer: Adam(lr: 0.01))
        for b in data[6...] { try naive.step(b) }
        XCTAssertNotEqual(bytes(naive.parameters["net.0.weight"]!), bytes(straight.parameters["net.0.weight"]!))
    }

    func testResumeRefusesOtherConfigAndWeightsOnly() throws {
        let (g, trainable, initial) = Self.mlp()
        let t = try Trainer(graph: g, loss: "loss", parameters: initial, trainable: trainable, optimizer: Adam())
        try t.step(Self.batches(1)[0])
        let c = try Checkpoint(trainer: t, configFingerprint: "A")
        assertThrows(try Trainer(resuming: c, graph: g, loss: "loss", trainable: trainable, expectedFingerprint: "B"),
                     mentioning: ["fingerprint", "\"A\"", "\"B\""])
        var w = c
        w.optimizer = nil
        assertThrows(try Trainer(resuming: w, graph: g, loss: "loss", trainable: trainable), mentioning: ["no optimizer state"])
        // State for a parameter that is no longer trained.
        assertThrows(try Trainer(resuming: c, graph: g, loss: "loss", trainable: ["net.0.weight"]),
                     mentioning: [".exp_avg", "not among the trained parameters"])
    }

    func testSGDRestoreRejectsBadState() throws {
        assertThrows(try SGD(lr: 0.1).restore(state: ["p.momentum_buffer": Tensor(shape: [1], [1])], stepCount: 1),
                     mentioning: ["momentum is 0"])
        assertThrows(try SGD(lr: 0.1, momentum: 0.9).restore(state: ["p.exp_avg": Tensor(shape: [1], [1])], stepCount: 1),
                     mentioning: ["momentum_buffer"])
        assertThrows(try SGD(lr: 0.1, momentum: 0.9).restore(state: [:], stepCount: -1), mentioning: ["negative"])
    }
}
