import Compiler
import Foundation
import Graph
import Models
import Runtime
import Tensor
import Train

/// The models `samdg bench` and `samdg profile` run: each builds its graph, binds weights and
/// data, and returns one step to time.
struct WorkloadBuilder {
    /// Compile fused plans (false: one kernel per op, for comparison).
    let fuse: Bool

    /// Builds the workload; returns one step, its FLOP count (matmul/conv only) and a description.
    func prepare(_ workload: Bench.Workload) throws -> Prepared {
        switch workload {
        case .samViTBEncoder:
            return try encoder(size: 1024, what: "SAM ViT-B image encoder, 1×3×1024², formula weights") { mb, x in
                try mb.scope("image_encoder") { try mb.imageEncoderViT(x, .vitB) }
            }
        case .liteMedSAMEncoder:
            let real = (try? Weights.liteMedSAM()) != nil
            return try encoder(size: 256, what: "LiteMedSAM TinyViT encoder, 1×3×256², \(real ? "pretrained" : "formula") weights",
                               weights: real ? try PthReader.read(path: Weights.liteMedSAM()).stateDict() : nil) { mb, x in
                try mb.scope("image_encoder") { try mb.tinyViT(x, .liteMedSAM) }
            }
        case .samDecoderTrainStep:
            return try decoderStep()
        case .deepLabR50TrainStep:
            return try deepLabStep(.resnet50OS8, batch: 2, size: 512)
        case .deepLabR18TrainStep:
            return try deepLabStep(.resnet18OS8, batch: 8, size: 256)
        }
    }

    /// An encoder forward pass, or with `train` the gradients of the embedding's mean with respect
    /// to every weight plus an Adam update.
    func encoder(size: Int, batch: Int = 1, train: Bool = false, what: String, weights: [String: Tensor]? = nil,
                 _ build: (ModelBuilder, Value) throws -> Value) throws -> Prepared {
        let mb = ModelBuilder()
        let emb = try build(mb, mb.graph.input("image", [batch, 3, size, size]))
        mb.graph.output("embedding", emb)
        var bind = try StateDictBinding.bind(weights ?? FormulaWeights.generate(mb.declared), to: mb.declared, allowExtra: true)
        bind.merge(mb.constants) { a, _ in a }
        let image = Tensor(shape: [batch, 3, size, size], (0..<(batch * 3 * size * size)).map { Float($0 % 251) / 251 })
        if train {
            mb.graph.output("loss", try mb.graph.meanAll(emb))
            let trainable = mb.declared.map(\.name).filter { !$0.contains("running_") }
            let trainer = try Trainer(graph: mb.graph, loss: "loss", parameters: bind, trainable: trainable, optimizer: Adam(lr: 1e-5), fuse: fuse)
            return Prepared(step: { try trainer.step(["image": image]) }, flops: trainer.session.executor.plan.totalFLOPs,
                            what: what + ", training step (mean embedding, Adam)", session: trainer.session)
        }
        bind["image"] = image
        let session = try Session(mb.graph, fuse: fuse)
        return Prepared(step: { _ = try session.run(bind) }, flops: try Self.modelFLOPs(mb.graph), what: what, session: session)
    }

    /// A serialised graph: inputs get seeded uniform values, parameters formula weights; with
    /// `train`, the output "loss" is differentiated with respect to every parameter.
    func graphFile(_ path: String, train: Bool) throws -> Prepared {
        let g = try Graph.load(path: path)
        var rng = SplitMix64(seed: 1)
        var bind = FormulaWeights.generate(g.parameters.map { ($0.name, g.shape($0.value)) })
        for (n, v) in g.inputs { let s = g.shape(v); bind[n] = Tensor(shape: s, (0..<ShapeMath.count(s)).map { _ in rng.uniform(0, 1) }) }
        let what = "graph \(path) (\(g.nodes.count) nodes)"
        if train {
            guard g.outputValue("loss") != nil else { throw SamdgError(path, "--train needs an output named \"loss\"") }
            let session = try Session(g, loss: "loss", wrt: g.parameters.map(\.name), fuse: fuse)
            return Prepared(step: { _ = try session.run(bind) }, flops: session.executor.plan.totalFLOPs, what: what + ", with gradients", session: session)
        }
        let session = try Session(g, fuse: fuse)
        return Prepared(step: { _ = try session.run(bind) }, flops: try Self.modelFLOPs(g), what: what, session: session)
    }

    /// A forward graph's FLOPs as its ops define them (the unfused plan's): the work a framework
    /// that runs the ops as written does, so GFLOP/s compare across engines and fusion savings
    /// (padding the compiler skips, e.g. `window-attention`) show as speed, not as fewer FLOPs.
    static func modelFLOPs(_ g: Graph) throws -> Double {
        try Compiler.compile(g, fuse: false).totalFLOPs
    }

    func decoderStep() throws -> Prepared {
        let mb = ModelBuilder()
        let g = mb.graph
        let emb = g.input("embedding", [1, 256, 64, 64]), boxes = g.input("boxes", [4, 4]), target = g.input("target", [4, 1, 1024, 1024])
        let d = try mb.samDecode(embedding: emb, boxes: boxes, .vitB)
        let (low, _) = try mb.selectMasks(d.masks, d.iou, multimask: false)
        g.output("loss", try g.diceCELoss(g.resize(low, height: 1024, width: 1024), target))
        var params = FormulaWeights.generate(mb.declared)
        params.merge(mb.constants) { a, _ in a }
        let trainable = mb.parameterNames(under: "mask_decoder.")
        let trainer = try Trainer(graph: g, loss: "loss", parameters: params, trainable: trainable,
                                  optimizer: Adam(lr: 1e-4, weightDecay: 1e-3), fuse: fuse)
        let batch: [String: Tensor] = [
            "embedding": Tensor(shape: [1, 256, 64, 64], (0..<(256 * 64 * 64)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }),
            "boxes": Tensor(shape: [4, 4], [100, 120, 400, 500, 300, 300, 700, 650, 50, 600, 350, 980, 600, 100, 990, 400]),
            "target": Tensor(shape: [4, 1, 1024, 1024], (0..<(4 * 1024 * 1024)).map { i in Float((i / 1024 % 1024 > 300 && i % 1024 < 600) ? 1 : 0) }),
        ]
        return Prepared(step: { try trainer.step(batch) }, flops: trainer.session.executor.plan.totalFLOPs,
                        what: "SAM mask-decoder train step: 1×256×64² embedding, 4 boxes, masks at 1024², DiceCE, Adam(1e-4, wd 1e-3)",
                        session: trainer.session)
    }

    func deepLabStep(_ cfg: DeepLabV3Config, batch: Int, size: Int, train: Bool = true) throws -> Prepared {
        let mb = ModelBuilder()
        let g = mb.graph
        if !train {
            g.output("logits", try mb.deepLabV3(g.input("image", [batch, 3, size, size]), cfg, mode: .eval))
            var bind = FormulaWeights.generate(mb.declared)
            bind["image"] = Tensor(shape: [batch, 3, size, size], (0..<(batch * 3 * size * size)).map { Float($0 % 253) / 253 })
            let session = try Session(g, fuse: fuse)
            return Prepared(step: { _ = try session.run(bind) }, flops: session.executor.plan.totalFLOPs,
                            what: "DeepLabV3 (\(cfg.backbone.layers), \(cfg.backbone.block.rawValue)) OS\(cfg.backbone.outputStride) eval forward, \(batch)×3×\(size)²", session: session)
        }
        let logits = try mb.deepLabV3(g.input("image", [batch, 3, size, size]), cfg, mode: .train(momentum: 0.1))
        g.output("loss", try g.stage1Loss(logits, g.input("mask", [batch, 1, size, size])))
        let params = FormulaWeights.generate(mb.declared)
        let trainable = mb.declared.map(\.name).filter { !$0.contains("running_") }
        let trainer = try Trainer(graph: g, loss: "loss", parameters: params, trainable: trainable,
                                  optimizer: Adam(lr: 1e-3), stateUpdates: mb.runningStatUpdates, fuse: fuse)
        let n = batch * size * size
        let b: [String: Tensor] = ["image": Tensor(shape: [batch, 3, size, size], (0..<(3 * n)).map { Float($0 % 253) / 253 }),
                                   "mask": Tensor(shape: [batch, 1, size, size], (0..<n).map { Float(($0 / size) % size > size / 2 ? 1 : 0) })]
        return Prepared(step: { try trainer.step(b) }, flops: trainer.session.executor.plan.totalFLOPs,
                        what: "DeepLabV3-\(cfg.backbone.block == .bottleneck ? "ResNet50" : "ResNet18") OS\(cfg.backbone.outputStride) train step, \(batch)×3×\(size)², stage-1 loss, Adam",
                        session: trainer.session)
    }

}

/// A ready-to-run workload.
struct Prepared {
    let step: () throws -> Void
    let flops: Double
    let what: String
    let session: Session
}

