import Foundation
import Graph
import Models
import Tensor
import Train

/// Stage 3's trainable part: SAM's prompt encoder (frozen) and mask decoder (trained) over one
/// canvas embedding with one box per tile. The decoder's low-resolution logits are brought to
/// the canvas size and each box's own tile is cut out, so the loss and the predictions are per
/// image, as if each image had been prompted alone.
final class MergedDecoder {
    let layout: MergeLayout
    let imageSize: Int
    let trainer: Trainer
    let evalSession: Session

    /// `train`: DiceCE on [K, 1, t, t] tiles, Adam with PyTorch's L2 weight decay (as the paper's
    /// `torch.optim.Adam(lr=1e-4, weight_decay=1e-3)`).
    init(sam: SAMBackbone, layout: MergeLayout, imageSize: Int, lr: Float, weightDecay: Float, resume: Checkpoint?) throws {
        self.layout = layout
        self.imageSize = imageSize
        let k = layout.tilesPerCanvas, t = layout.tile
        let mb = ModelBuilder()
        let g = mb.graph
        let tiles = try Self.tileLogits(mb, sam: sam, layout: layout)
        g.output("loss", try g.diceCELoss(tiles, g.input("target", [k, 1, t, t])))
        var params = try StateDictBinding.bind(sam.weights, to: mb.declared, allowExtra: true, place: sam.checkpointPath)
        params.merge(mb.constants) { a, _ in a }
        let trainable = mb.parameterNames(under: "mask_decoder.")
        if let resume {
            var w = params
            for (n, v) in resume.weights { w[n] = v }
            trainer = try Trainer(resuming: Checkpoint(weights: w, optimizer: resume.optimizer, step: resume.step, epoch: resume.epoch),
                                  graph: g, loss: "loss", trainable: trainable)
        } else {
            trainer = try Trainer(graph: g, loss: "loss", parameters: params, trainable: trainable,
                                  optimizer: Adam(lr: lr, weightDecay: weightDecay))
        }
        let eb = ModelBuilder()
        let et = try Self.tileLogits(eb, sam: sam, layout: layout)
        let up = t == imageSize ? et : try eb.graph.resize(et, height: imageSize, width: imageSize)
        eb.graph.output("prob", try eb.graph.sigmoid(up))
        evalSession = try Session(eb.graph)
    }

    /// embedding [1, 256, 64, 64] + boxes [K, 4] (canvas pixels) → tile logits [K, 1, t, t].
    static func tileLogits(_ mb: ModelBuilder, sam: SAMBackbone, layout: MergeLayout) throws -> Value {
        let g = mb.graph
        let k = layout.tilesPerCanvas, t = layout.tile, c = layout.canvas
        let d = try mb.samDecode(embedding: g.input("embedding", sam.embeddingShape), boxes: g.input("boxes", [k, 4]), sam.config)
        var (low, _) = try mb.selectMasks(d.masks, d.iou, multimask: false)
        if g.shape(low)[2] != c { low = try g.resize(low, height: c, width: c) }
        if k == 1 { return low }
        let parts = try (0..<k).map { i -> Value in
            let o = layout.origin(i)
            return try g.slice(low, dims: [0, 2, 3], starts: [i, o.y, o.x], ends: [i + 1, o.y + t, o.x + t])
        }
        return try g.concat(parts, axis: 0)
    }

    /// The decoder's parameters (what checkpoints keep).
    var decoderWeights: [String: Tensor] {
        trainer.parameters.filter { $0.key.hasPrefix("mask_decoder.") }.mapValues { $0.copy() }
    }

    /// Probabilities [K, S, S] for one canvas, with the given decoder weights (default: current).
    func probabilities(embedding: Tensor, boxes: Tensor, decoder: [String: Tensor]? = nil) throws -> Tensor {
        var bind = trainer.parameters
        if let decoder { for (n, v) in decoder { bind[n] = v } }
        bind["embedding"] = embedding
        bind["boxes"] = boxes
        let p = try evalSession.run(bind)["prob"]!
        return Tensor(shape: [layout.tilesPerCanvas, imageSize, imageSize], Array(p.floats))
    }
}
