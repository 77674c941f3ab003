import Foundation
import Graph
import Models
import Tensor
import Train

/// Stage 1's network (the paper: DeepLabV3-ResNet50 at output stride 8; lighter ResNets for CPU
/// runs): a training graph (BatchNorm batch statistics, the seed's stage-1 loss, Adam) and an
/// eval graph sharing the trainer's parameters.
public final class SegmentationNet {
    public let config: DeepLabV3Config
    public let batch: Int, size: Int
    public let trainer: Trainer
    let evalSession: Session
    let evalBatch: Int

    public static func config(backbone: String, outputStride: Int) throws -> DeepLabV3Config {
        guard outputStride == 8 || outputStride == 16 else { throw SamdgError("segment: output_stride", "expected 8 or 16, got \(outputStride)") }
        switch backbone {
        case "resnet18": return DeepLabV3Config(backbone: .resnet18(outputStride: outputStride))
        case "resnet34": return DeepLabV3Config(backbone: .resnet34(outputStride: outputStride))
        case "resnet50": return DeepLabV3Config(backbone: .resnet50(outputStride: outputStride))
        case "resnet101": return DeepLabV3Config(backbone: .resnet101(outputStride: outputStride))
        default: throw SamdgError("segment: backbone", "expected resnet18, resnet34, resnet50 or resnet101, got \(backbone)")
        }
    }

    /// A fresh network (He-initialised, seeded) or one resumed from a checkpoint.
    public init(config: DeepLabV3Config, batch: Int, size: Int, lr: Float, seed: UInt64, resume: Checkpoint? = nil) throws {
        self.config = config; self.batch = batch; self.size = size
        let mb = ModelBuilder()
        let g = mb.graph
        let logits = try mb.deepLabV3(g.input("image", [batch, 3, size, size]), config, mode: .train(momentum: 0.1))
        g.output("loss", try g.stage1Loss(logits, g.input("mask", [batch, 1, size, size])))
        let trainable = mb.declared.map(\.name).filter { !$0.contains("running_") && !$0.hasSuffix("num_batches_tracked") }
        if let resume {
            trainer = try Trainer(resuming: resume, graph: g, loss: "loss", trainable: trainable, stateUpdates: mb.runningStatUpdates)
        } else {
            trainer = try Trainer(graph: g, loss: "loss", parameters: HeInit.generate(mb.declared, seed: seed), trainable: trainable,
                                  optimizer: Adam(lr: lr), stateUpdates: mb.runningStatUpdates)
        }
        evalBatch = batch
        let eb = ModelBuilder()
        eb.graph.output("prob", try eb.graph.sigmoid(eb.deepLabV3(eb.graph.input("image", [batch, 3, size, size]), config, mode: .eval)))
        evalSession = try Session(eb.graph)
    }

    /// Precise BatchNorm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021;
    /// detectron2's `PreciseBN`): every BatchNorm layer's running mean and variance become the
    /// average of its batch statistics over `batches` training batches under the final weights,
    /// instead of the exponential average of batches seen while the weights still moved. A
    /// train-mode forward graph with momentum 1 outputs the batch statistics themselves (mean and
    /// unbiased variance, as PyTorch's running update uses).
    ///
    /// Why: after a short from-scratch run the exponential average lags the weights, and
    /// eval-mode predictions then depend on float32 rounding in training (the demo's stage-1 Dice
    /// on its source images: 0.92 fused, 0.81 unfused, 0.46 with Winograd convolutions, at the
    /// same final training loss). `images` [N, 3, S, S]; batches are consecutive rows.
    public func recomputeBatchNormStatistics(_ images: Tensor, batches: Int) throws {
        guard batches > 0, images.shape[0] > 0 else { return }
        let mb = ModelBuilder()
        _ = try mb.deepLabV3(mb.graph.input("image", [batch, 3, size, size]), config, mode: .train(momentum: 1))
        let updates = mb.runningStatUpdates
        let session = try Session(mb.graph)
        var bind = trainer.parameters
        var sums: [String: [Double]] = [:]
        let n = images.shape[0], count = min(batches, (n + batch - 1) / batch)
        for b in 0..<count {
            bind["image"] = PreparedSet.gather(images, (0..<batch).map { (b * batch + $0) % n })
            let out = try session.run(bind)
            for (o, _) in updates {
                let v = out[o]!.scalars
                var acc = sums[o] ?? [Double](repeating: 0, count: v.count)
                for i in 0..<v.count { acc[i] += Double(v[i]) }
                sums[o] = acc
            }
        }
        for (o, param) in updates {
            let dst = trainer.parameters[param]!.floats
            for (i, v) in sums[o]!.enumerated() { dst[i] = Float(v / Double(count)) }
        }
    }

    /// Probability maps [N, S, S] for prepared images [N, 3, S, S] (eval-mode BatchNorm).
    public func predict(_ images: Tensor) throws -> Tensor {
        let n = images.shape[0], s = size
        let out = Tensor(zeros: [n, s, s])
        var bind = trainer.parameters
        var start = 0
        while start < n {
            let rows = (0..<evalBatch).map { min(n - 1, start + $0) }
            bind["image"] = PreparedSet.gather(images, rows)
            let p = try evalSession.run(bind)["prob"]!
            let take = min(evalBatch, n - start)
            out.floats.baseAddress!.advanced(by: start * s * s).update(from: p.floats.baseAddress!, count: take * s * s)
            start += take
        }
        return out
    }
}

/// torchvision's initialisation for training DeepLabV3 from scratch: backbone convolutions
/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")` (ResNet's own init); the head's
/// convolutions keep PyTorch's default `kaiming_uniform_(a=√5)`, i.e. U(±1/√fan_in), and so do
/// their biases; BatchNorm weight 1 and bias 0, running mean 0 and variance 1. Drawn from a
/// seeded SplitMix64 (Box–Muller for the normals).
enum HeInit {
    static func generate(_ declared: [(name: String, shape: [Int])], seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var out: [String: Tensor] = [:]
        let names = Set(declared.map(\.name))
        for (name, shape) in declared {
            let n = ShapeMath.count(shape)
            let stem = name.split(separator: ".").dropLast().joined(separator: ".")
            let isNorm = names.contains(stem + ".running_mean")
            if name.hasSuffix("running_var") || (isNorm && name.hasSuffix(".weight")) {
                out[name] = Tensor(shape: shape, [Float](repeating: 1, count: n))
            } else if shape.count == 4 && name.hasPrefix("backbone.") {
                let std = (2 / Double(shape[0] * shape[2] * shape[3])).squareRoot()
                out[name] = Tensor(shape: shape, (0..<n).map { _ in Float(gaussian(&rng) * std) })
            } else if shape.count == 4 {
                let bound = Float(1 / Double(shape[1] * shape[2] * shape[3]).squareRoot())
                out[name] = Tensor(shape: shape, (0..<n).map { _ in rng.uniform(-bound, bound) })
            } else if !isNorm, name.hasSuffix(".bias"), let w = declared.first(where: { $0.name == stem + ".weight" }), w.shape.count == 4 {
                let bound = Float(1 / Double(w.shape[1] * w.shape[2] * w.shape[3]).squareRoot())
                out[name] = Tensor(shape: shape, (0..<n).map { _ in rng.uniform(-bound, bound) })
            } else {
                out[name] = Tensor(zeros: shape)
            }
        }
        return out
    }

    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u1 = (Double(rng.next() >> 11) + 1) / 9007199254740993.0, u2 = Double(rng.next() >> 11) / 9007199254740992.0
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
