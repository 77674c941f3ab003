import Foundation
import Graph
import Kernels
import Models
import Tensor
import TestSupport
import Train
import XCTest

/// DeepLabV3-ResNet18 at output stride 8 (the demo's stage-1 network), eval and train, with the
/// Winograd convolutions against the same plans with every convolution as im2col.
final class WinogradModelTests: XCTestCase {
    func testDeepLabR18EvalAgreesWithIm2col() throws {
        let mb = ModelBuilder()
        let y = try mb.deepLabV3(mb.graph.input("image", [8, 3, 128, 128]), .resnet18OS8, mode: .eval)
        mb.graph.output("y", y)
        var bind = FormulaWeights.generate(mb.declared.map { ($0.name, $0.shape) })
        bind.merge(mb.constants) { a, _ in a }
        var rng = SeededRNG(seed: 4)
        bind["image"] = rng.tensor([8, 3, 128, 128])
        let session = try Session(mb.graph)
        let saved = Winograd.enabled
        defer { Winograd.enabled = saved }
        Winograd.enabled = true
        let a = try session.run(bind)["y"]!.scalars
        Winograd.enabled = false
        let b = try session.run(bind)["y"]!.scalars
        XCTAssertLessThan(relativeL2(a, b), 1e-4)
    }
}

final class WinogradTrainingTests: XCTestCase {
    /// DeepLab-R18 training step gradients and running statistics with and without Winograd,
    /// next to the step's own sensitivity: the same im2col plan on the image with each pixel
    /// scaled by 1 ± 1e-6 (random). The step is ill-conditioned (BatchNorm's batch statistics
    /// cancel): that nudge moves the backbone's gradients by ~3e-3 and an ASPP branch's by ~1e-2;
    /// Winograd's ~5e-7 per-convolution differences move them by the same ~3e-3 (1e-2 in that
    /// branch) and the head's by ~1.5e-4, where the nudge barely reaches. The loss agrees to
    /// 1e-5; the kernels' own accuracy is `WinogradTests`' business.
    func testDeepLabR18GradientsAgreeWithIm2col() throws {
        let mb = ModelBuilder()
        let g = mb.graph
        let logits = try mb.deepLabV3(g.input("image", [4, 3, 64, 64]), .resnet18OS8, mode: .train(momentum: 0.1))
        g.output("loss", try g.stage1Loss(logits, g.input("mask", [4, 1, 64, 64])))
        let trainable = mb.declared.map(\.name).filter { !$0.contains("running_") && !$0.hasSuffix("num_batches_tracked") }
        var rng = SeededRNG(seed: 9)
        var bind: [String: Tensor] = [:]
        for (n, s) in mb.declared {
            if n.hasSuffix("running_var") || n.hasSuffix(".weight") && s.count == 1 { bind[n] = Tensor(shape: s, [Float](repeating: 1, count: ShapeMath.count(s))) }
            else if n.hasSuffix("running_mean") || n.hasSuffix(".bias") || n.hasSuffix("num_batches_tracked") { bind[n] = Tensor(zeros: s) }
            else { bind[n] = rng.tensor(s, -0.1, 0.1) }
        }
        bind.merge(mb.constants) { a, _ in a }
        bind["image"] = rng.tensor([4, 3, 64, 64])
        bind["mask"] = Tensor(shape: [4, 1, 64, 64], rng.tensor([4, 1, 64, 64], 0, 1).scalars.map { $0 > 0.5 ? 1 : 0 })
        let session = try Session(g, loss: "loss", wrt: trainable)
        let saved = Winograd.enabled
        defer { Winograd.enabled = saved }
        Winograd.enabled = true
        let a = try session.run(bind)
        Winograd.enabled = false
        let b = try session.run(bind)
        var nudged = bind
        var noise = SeededRNG(seed: 11)
        nudged["image"] = Tensor(shape: [4, 3, 64, 64], bind["image"]!.scalars.map { $0 * (1 + 1e-6 * noise.uniform(-1, 1)) })
        let c = try session.run(nudged)
        XCTAssertEqual(a["loss"]!.scalars[0], b["loss"]!.scalars[0], accuracy: 1e-5 * abs(b["loss"]!.scalars[0]))
        var worstFloor = 0.0
        for k in b.keys.sorted() {
            let e = relativeL2(a[k]!.scalars, b[k]!.scalars), floor = relativeL2(c[k]!.scalars, b[k]!.scalars)
            worstFloor = max(worstFloor, floor)
            // a misrouted or wrong kernel moves gradients by O(1); float32 reordering by no more
            // than the step's own sensitivity (below)
            XCTAssertLessThan(e, 2e-2, "\(k): Winograd \(e), sensitivity floor \(floor)")
        }
        XCTAssertGreaterThan(worstFloor, 1e-3, "the step is as ill-conditioned as this test's bound assumes")
    }
}
