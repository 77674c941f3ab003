import Datasets
import H5
import Foundation
import Pipeline
import Tensor
import Train

/// Stage 3, `refine`: fine-tunes SAM's mask decoder with box prompts (image and prompt encoders
/// frozen; DiceCE; Adam lr 1e-4, weight decay 1e-3) and reports Dice at θ2 per domain.
///
/// - Training boxes: the stage-1 boxes of the source training images (`train_boxes: stage1`, the
///   seed) or their ground-truth boxes (`gt`); each is jittered outward by 0…`jitter` px every
///   time it is drawn (seeded by sample and epoch).
/// - Test boxes: stage-1 boxes, unjittered (`seed_test_jitter: true` jitters them as the seed does);
///   `test_box_margin: M` widens them by M px per side (default 0, the seed), to match the outward
///   jitter the decoder was trained with.
/// - Epoch selection on the source validation split; the seed's choice (best mean target Dice,
///   which looks at the test set) is reported beside it.
///
/// Outputs: `metrics` (JSON), `decoder` (HDF5 weights of the selected epoch), `predictions`
/// (HDF5 `/<split>/pred` N×S×S uint8 of the selected epoch). Resumes after a kill from the last
/// finished epoch, with the same final result.
public struct RefineStage: StageRunner {
    public var kind: String { "refine" }
    public var version: String { "3" }
    public init() {}

    public func externalInputs(_ p: StageParams) throws -> [String: String] { try EmbedStage().externalInputs(p) }

    struct SplitData {
        let embeddings: Tensor
        let groups: [[Int]]
        let boxes: Tensor, gtBoxes: Tensor
        let masks: Tensor
        var count: Int { masks.shape[0] }
    }

    public func run(_ c: StageContext) throws -> [String: String] {
        let p = c.params
        let split = try c.split()
        let epochs = try p.int("epochs", 5), theta2 = Float(try p.double("theta2", 0.5))
        let jitter = BoxJitter(seed: UInt64(try p.int("seed", 0)), maxShift: try p.int("jitter", 9))
        let trainBoxes = try p.oneOf("train_boxes", ["stage1", "gt"], "stage1")
        let seedOffsets = try p.bool("seed_box_offsets", false), seedTestJitter = try p.bool("seed_test_jitter", false)
        let margin = Float(try p.int("test_box_margin", 0))
        let sam = try SAMBackbone(model: try p.string("model", "litemedsam"))
        let embPath = try c.input("embed", "embeddings"), boxPath = try c.input("box", "boxes"), probsPath = try c.input("segment", "probs")
        let grid = Int(try Self.attribute(embPath, "grid")) ?? 1
        let layout = try MergeLayout(grid: grid, canvas: sam.canvas)

        func load(_ name: String) throws -> SplitData {
            let g = try StageFiles.readH5(embPath, "\(name)/groups", place: "refine")
            let k = g.shape[1]
            return SplitData(embeddings: try StageFiles.readH5(embPath, "\(name)/embeddings", place: "refine"),
                             groups: (0..<g.shape[0]).map { gi in (0..<k).map { Int(g.floats[gi * k + $0]) } },
                             boxes: try StageFiles.readH5(boxPath, "\(name)/boxes", place: "refine"),
                             gtBoxes: try StageFiles.readH5(boxPath, "\(name)/gt_boxes", place: "refine"),
                             masks: try StageFiles.readH5(probsPath, "\(name)/masks", place: "refine"))
        }
        let train = try load("source_train")
        let evals = try split.evalSplits.map { ($0, try load($0)) }
        let size = train.masks.shape[1]
        let targets = try Self.tileTargets(train.masks, tile: layout.tile)

        // Resume state
        let ckptPath = c.workDir + "/refine.ckpt.h5"
        var history: [[String: Any]] = []
        var resume: Checkpoint?
        if FileManager.default.fileExists(atPath: ckptPath) {
            resume = try Checkpoint.load(path: ckptPath)
            history = (try? JSONSerialization.jsonObject(with: Data((resume!.metadata["history"] ?? "[]").utf8)) as? [[String: Any]]) ?? []
            c.log("resuming after epoch \(resume!.epoch)")
        }
        let dec = try MergedDecoder(sam: sam, layout: layout, imageSize: size, lr: Float(try p.double("lr", 1e-4)),
                                    weightDecay: Float(try p.double("weight_decay", 1e-3)), resume: resume)

        func canvasBoxes(_ d: SplitData, _ group: [Int], gt: Bool, epoch: Int?, training: Bool = false) throws -> Tensor {
            var out: [Float] = []
            for (k, pos) in group.enumerated() {
                let src = gt ? d.gtBoxes : d.boxes
                var b = (0..<4).map { src.floats[pos * 4 + $0] }
                if let epoch {
                    let ib = Tensor(zeros: [4], dtype: .int64)
                    for q in 0..<4 { ib.buffer(Int64.self)[q] = Int64(b[q]) }
                    let j = try jitter.apply(ib, firstSample: pos, epoch: epoch, width: size, height: size)
                    b = (0..<4).map { Float(j.buffer(Int64.self)[$0]) }
                }
                if !training && !gt && margin != 0 {
                    let hi = Float(size - 1)
                    b = [max(0, b[0] - margin), max(0, b[1] - margin), min(hi, b[2] + margin), min(hi, b[3] + margin)]
                }
                out += layout.canvasBox(b, tile: k, imageSize: size, seedOffsets: seedOffsets)
            }
            return Tensor(shape: [group.count, 4], out)
        }
        func embedding(_ d: SplitData, _ gi: Int) -> Tensor {
            let per = d.embeddings.count / d.embeddings.shape[0]
            return Tensor(shape: sam.embeddingShape, Array(d.embeddings.floats[(gi * per)..<((gi + 1) * per)]))
        }
        func predict(_ d: SplitData, gt: Bool, epoch: Int, decoder: [String: Tensor]? = nil) throws -> Tensor {
            let preds = Tensor(zeros: [d.count, size, size])
            var filled = Set<Int>()
            for (gi, group) in d.groups.enumerated() {
                let probs = try dec.probabilities(embedding: embedding(d, gi),
                                                  boxes: canvasBoxes(d, group, gt: gt, epoch: seedTestJitter && !gt ? epoch : nil), decoder: decoder)
                for (k, pos) in group.enumerated() where filled.insert(pos).inserted {
                    preds.floats.baseAddress!.advanced(by: pos * size * size).update(from: probs.floats.baseAddress!.advanced(by: k * size * size), count: size * size)
                }
            }
            return preds
        }
        func evaluate(epoch: Int, gt: Bool = false, decoder: [String: Tensor]? = nil) throws -> [String: Double] {
            var out: [String: Double] = [:]
            for (name, d) in evals { out[name] = try Metrics.meanDice(probs: predict(d, gt: gt, epoch: epoch, decoder: decoder), masks: d.masks, threshold: theta2) }
            return out
        }

        if history.isEmpty {
            history.append(["epoch": 0, "loss": NSNull(), "dice": try evaluate(epoch: 0)])
            c.log("pretrained decoder: " + Self.describe(history[0]["dice"] as! [String: Double]))
        }
        let startEpoch = resume?.epoch ?? 0
        let bar = ProgressBar("refine \(layout.grid)x\(layout.grid)", total: max(1, (epochs - startEpoch) * train.groups.count), unit: "canvas")
        for epoch in startEpoch..<epochs {
            let order = seededPermutation(train.groups.count, seed: jitter.seed &+ 0xDEC &+ UInt64(epoch) &* 0x9E37_79B9)
            var sum = 0.0
            for gi in order {
                let group = train.groups[gi]
                let target = PreparedSet.gather(targets, group)
                let loss = try dec.trainer.step(["embedding": embedding(train, gi),
                                                 "boxes": canvasBoxes(train, group, gt: trainBoxes == "gt", epoch: epoch + 1, training: true),
                                                 "target": target])
                sum += Double(loss)
                bar.extra = String(format: "epoch %d loss %.4f", epoch + 1, loss)
                bar.advance()
            }
            let dice = try evaluate(epoch: epoch + 1)
            history.append(["epoch": epoch + 1, "loss": sum / Double(max(1, order.count)), "dice": dice])
            c.log("epoch \(epoch + 1): " + Self.describe(dice))
            try Checkpoint(weights: dec.decoderWeights, step: epoch + 1, epoch: epoch + 1).save(to: c.workDir + "/epoch\(epoch + 1).h5")
            let meta = String(data: try JSONSerialization.data(withJSONObject: history, options: [.sortedKeys]), encoding: .utf8)!
            var ck = try Checkpoint(trainer: dec.trainer, epoch: epoch + 1, metadata: ["history": meta])
            ck.weights = ck.weights.filter { $0.key.hasPrefix("mask_decoder.") }
            try ck.save(to: ckptPath)
            FaultInjection.point("refine-epoch-\(epoch + 1)")
        }

        // Selection: on the source validation split (ours) and on the mean target Dice (the seed's).
        func score(_ h: [String: Any], _ keys: [String]) -> Double {
            let d = h["dice"] as! [String: Double]
            return keys.map { d[$0] ?? 0 }.reduce(0, +) / Double(max(keys.count, 1))
        }
        let byVal = history.max { score($0, ["source_val"]) < score($1, ["source_val"]) }!
        let byTarget = history.max { score($0, split.targets) < score($1, split.targets) }!
        func weights(_ h: [String: Any]) throws -> [String: Tensor]? {
            let e = h["epoch"] as! Int
            return e == 0 ? sam.weights.filter { $0.key.hasPrefix("mask_decoder.") }.mapValues { $0.toFloat32() }
                          : try Checkpoint.load(path: c.workDir + "/epoch\(e).h5").weights
        }
        let selected = try weights(byVal)!
        let gtDice = try evaluate(epoch: 0, gt: true, decoder: selected)
        let gtPretrained = try evaluate(epoch: 0, gt: true, decoder: try weights(history[0])!)
        c.log("selected epoch \(byVal["epoch"]!) on source val; with ground-truth boxes: " + Self.describe(gtDice))
        var preds: [(String, Tensor)] = []
        for (name, d) in evals {
            let pr = try predict(d, gt: false, epoch: 0, decoder: selected)
            let u = Tensor(zeros: pr.shape, dtype: .uint8)
            for i in 0..<pr.count { u.buffer(UInt8.self)[i] = pr.floats[i] > theta2 ? 1 : 0 }
            preds.append(("\(name)/pred", u))
        }
        try StageFiles.writeH5(c.outputDir + "/predictions.h5", preds, attributes: ["theta2": "\(theta2)"])
        try Checkpoint(weights: selected, epoch: byVal["epoch"] as! Int).save(to: c.outputDir + "/decoder.h5")
        try StageFiles.writeJSON(c.outputDir + "/metrics.json", [
            "epochs": history, "theta2": Double(theta2), "grid": grid, "train_boxes": trainBoxes,
            "selected_by_source_val": ["epoch": byVal["epoch"]!, "dice": byVal["dice"]!],
            "selected_by_target_dice_seed": ["epoch": byTarget["epoch"]!, "dice": byTarget["dice"]!],
            "gt_boxes_selected_decoder": gtDice, "gt_boxes_pretrained": gtPretrained, "pretrained": history[0]["dice"]!,
        ])
        return ["metrics": "metrics.json", "decoder": "decoder.h5", "predictions": "predictions.h5"]
    }

    static func describe(_ d: [String: Double]) -> String {
        d.keys.sorted().map { "\($0) \(String(format: "%.3f", d[$0]!))" }.joined(separator: ", ")
    }

    static func attribute(_ path: String, _ name: String) throws -> String {
        let f = try H5File.open(path)
        defer { try? f.close() }
        return try f.stringAttribute(name)
    }

    /// Ground-truth masks [N, S, S] uint8 → [N, 1, t, t] float targets (cv2 nearest neighbour).
    static func tileTargets(_ masks: Tensor, tile t: Int) throws -> Tensor {
        let n = masks.shape[0], s = masks.shape[1]
        let out = Tensor(zeros: [n, 1, t, t])
        for i in 0..<n {
            let one = Tensor(shape: [s, s], (0..<(s * s)).map { Float(masks.buffer(UInt8.self)[i * s * s + $0]) })
            let r = try Prep.nearestResize(one, width: t, height: t)
            out.floats.baseAddress!.advanced(by: i * t * t).update(from: r.floats.baseAddress!, count: t * t)
        }
        return out
    }
}
