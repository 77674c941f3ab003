import Datasets
import Foundation
import Pipeline
import Tensor
import Train

/// Stage 1, `segment`: trains the segmentation net on the source domain's training split with
/// the seed's stage-1 loss and Adam, then writes probability maps for the source train and val
/// splits and every target domain.
///
/// Outputs: `probs` (HDF5: `/<split>/probs` N×S×S float32, `/<split>/masks` N×S×S uint8 ground
/// truth on the same grid, `/<split>/index` image indices (float32)), `metrics` (JSON: loss per
/// epoch, per-image Dice at 0.5 per split), `model` (HDF5 weights checkpoint).
/// Resumes from the checkpoint of the last finished epoch after a kill.
public struct SegmentStage: StageRunner {
    public var kind: String { "segment" }
    public var version: String { "2" }
    public init() {}

    public func run(_ c: StageContext) throws -> [String: String] {
        let p = c.params
        let split = try c.split()
        let size = try p.int("size", 256), batch = try p.int("batch", 8), epochs = try p.int("epochs", 20)
        let lr = Float(try p.double("lr", 1e-3)), seed = UInt64(try p.int("seed", 0))
        let cfg = try SegmentationNet.config(backbone: try p.string("backbone", "resnet18"), outputStride: try p.int("output_stride", 8))
        let source = try c.domain(split.source)
        let train = try PreparedSet(source, indices: split.train, size: size)
        guard train.count >= 1 else { throw SamdgError("stage \(c.instance)", "the source training split is empty") }

        let ckptPath = c.workDir + "/segment.ckpt.h5"
        var losses: [Double] = []
        var startEpoch = 0
        var resume: Checkpoint?
        if FileManager.default.fileExists(atPath: ckptPath) {
            let ck = try Checkpoint.load(path: ckptPath)
            resume = ck
            startEpoch = ck.epoch
            losses = (try? JSONDecoder().decode([Double].self, from: Data((ck.metadata["losses"] ?? "[]").utf8))) ?? []
            c.log("resuming after epoch \(startEpoch) (step \(ck.step))")
        }
        let net = try SegmentationNet(config: cfg, batch: batch, size: size, lr: lr, seed: seed, resume: resume)
        let stepsPerEpoch = (train.count + batch - 1) / batch
        let bar = ProgressBar("segment \(split.source)", total: max(1, (epochs - startEpoch) * stepsPerEpoch), unit: "step")
        for epoch in startEpoch..<epochs {
            let order = seededPermutation(train.count, seed: seed &+ 0x5E6 &+ UInt64(epoch) &* 0x9E37_79B9)
            var sum = 0.0
            for s in 0..<stepsPerEpoch {
                let rows = (0..<batch).map { order[(s * batch + $0) % order.count] }
                let loss = try net.trainer.step(["image": PreparedSet.gather(train.images, rows), "mask": PreparedSet.gather(train.masks, rows)])
                sum += Double(loss)
                bar.extra = String(format: "epoch %d loss %.4f", epoch + 1, loss)
                bar.advance()
            }
            losses.append(sum / Double(stepsPerEpoch))
            let meta = String(data: try JSONEncoder().encode(losses), encoding: .utf8)!
            try Checkpoint(trainer: net.trainer, epoch: epoch + 1, metadata: ["losses": meta]).save(to: ckptPath)
            FaultInjection.point("segment-epoch-\(epoch + 1)")
        }
        c.log("loss per epoch: " + losses.map { String(format: "%.4f", $0) }.joined(separator: " "))
        // `precise_bn: K` (0, the default, keeps PyTorch's running statistics): see
        // `SegmentationNet.recomputeBatchNormStatistics`
        let preciseBN = try p.int("precise_bn", 0)
        guard preciseBN >= 0 else { throw SamdgError("stage \(c.instance) param precise_bn", "\(preciseBN); expected a batch count ≥ 0") }
        if preciseBN > 0 {
            try net.recomputeBatchNormStatistics(train.images, batches: preciseBN)
            c.log("BatchNorm statistics recomputed over \(min(preciseBN, stepsPerEpoch)) training batches")
        }

        var tensors: [(String, Tensor)] = []
        var dice: [String: Double] = [:]
        for (name, domain, indices) in try c.evaluationSets(split, includeTrain: true, source: source) {
            let set = name == "source_train" ? train : try PreparedSet(domain, indices: indices, size: size)
            let probs = try net.predict(set.images)
            let masks = Tensor(zeros: [set.count, size, size], dtype: .uint8)
            let mp = masks.buffer(UInt8.self), src = set.masks.floats
            for i in 0..<masks.count { mp[i] = src[i] > 0.5 ? 1 : 0 }
            dice[name] = try Metrics.meanDice(probs: probs, masks: masks, threshold: 0.5)
            tensors += [("\(name)/probs", probs), ("\(name)/masks", masks),
                        ("\(name)/index", Tensor(shape: [indices.count], indices.map { Float($0) }))]
        }
        c.log("stage-1 Dice: " + dice.keys.sorted().map { "\($0) \(String(format: "%.3f", dice[$0]!))" }.joined(separator: ", "))
        try StageFiles.writeH5(c.outputDir + "/probs.h5", tensors, attributes: ["size": "\(size)", "source": split.source])
        try Checkpoint(weights: net.trainer.parameters, step: net.trainer.step, epoch: epochs).save(to: c.outputDir + "/model.h5")
        try StageFiles.writeJSON(c.outputDir + "/metrics.json", ["loss_per_epoch": losses, "dice": dice, "size": size])
        return ["probs": "probs.h5", "metrics": "metrics.json", "model": "model.h5"]
    }
}

/// Evaluation helpers shared by the stages and reports.
public enum Metrics {
    /// Mean over images of the seed's smoothed Dice, (2|P∩T| + 1)/(|P| + |T| + 1), with
    /// P = probs > threshold; probs [N, H, W] float32, masks [N, H, W] uint8.
    public static func perImageDice(probs: Tensor, masks: Tensor, threshold: Float) throws -> [Double] {
        guard probs.shape == masks.shape, probs.rank == 3 else {
            throw SamdgError("dice", "probs \(ShapeMath.describe(probs.shape)) and masks \(ShapeMath.describe(masks.shape)) must both be [N, H, W]")
        }
        let n = probs.shape[0], per = probs.count / max(n, 1)
        let p = probs.floats, m = masks.buffer(UInt8.self)
        return (0..<n).map { i in
            var inter = 0.0, sp = 0.0, st = 0.0
            for k in (i * per)..<((i + 1) * per) {
                let a: Double = p[k] > threshold ? 1 : 0, b: Double = m[k] != 0 ? 1 : 0
                inter += a * b; sp += a; st += b
            }
            return (2 * inter + 1) / (sp + st + 1)
        }
    }

    public static func meanDice(probs: Tensor, masks: Tensor, threshold: Float) throws -> Double {
        let d = try perImageDice(probs: probs, masks: masks, threshold: threshold)
        return d.isEmpty ? 0 : d.reduce(0, +) / Double(d.count)
    }
}
