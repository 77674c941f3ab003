import ArgumentParser
import Foundation
import GoldenCheck
import Graph
import Kernels
import Models
import SAMMed
import Primitives
import Tensor
import Train

/// `samdg demo`: until the SAMMed pipeline lands, checks the goldens and trains a small conv net
/// (conv-BN-ReLU ×2, 1×1 head, the seed's stage-1 loss, Adam) to segment generated discs.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check the goldens, then train a small conv net on generated images.")

    @Option(help: "Golden manifest to check first (skipped when absent)") var golden = "../shared/golden/manifest.json"
    @Option(help: "Training steps") var steps = 120
    @Option(help: "Worker threads") var threads = 2

    func run() throws {
        Parallel.configure(threads: threads)
        if FileManager.default.fileExists(atPath: golden) {
            print("== check-golden \(golden) (ops)")
            _ = try GoldenRunner.run(manifest: golden, group: "ops", caseName: nil)
        }
        print("== training a small conv net on generated disc images (stage-1 loss, Adam lr 1e-2)")
        let (n, size, width) = (8, 24, 8)
        let g = Graph()
        let x = g.input("image", [n, 1, size, size]), t = g.input("mask", [n, 1, size, size])
        var params: [String: Tensor] = [:]
        var rng = SplitMix64(seed: 1)
        func conv(_ name: String, _ inp: Value, _ cin: Int, _ cout: Int, _ k: Int) throws -> Value {
            let w = g.parameter("\(name).weight", [cout, cin, k, k]), b = g.parameter("\(name).bias", [cout])
            let bound = 1 / Float(cin * k * k).squareRoot()   // PyTorch's default uniform init bound
            params["\(name).weight"] = Tensor(shape: [cout, cin, k, k], (0..<(cout * cin * k * k)).map { _ in rng.uniform(-bound, bound) })
            params["\(name).bias"] = Tensor(shape: [cout], (0..<cout).map { _ in rng.uniform(-bound, bound) })
            return try g.conv2d(inp, w, b, ConvGeometry(padding: k / 2))
        }
        var updates: [String: String] = [:]
        func bnRelu(_ name: String, _ inp: Value, _ c: Int) throws -> Value {
            for (k, v) in [("weight", Float(1)), ("bias", 0), ("running_mean", 0), ("running_var", 1)] {
                params["\(name).\(k)"] = Tensor(shape: [c], [Float](repeating: v, count: c))
            }
            let r = try g.batchNormTrain(inp, weight: g.parameter("\(name).weight", [c]), bias: g.parameter("\(name).bias", [c]),
                                         runningMean: g.parameter("\(name).running_mean", [c]),
                                         runningVar: g.parameter("\(name).running_var", [c]))
            g.output("\(name).running_mean.new", r.runningMean); g.output("\(name).running_var.new", r.runningVar)
            updates["\(name).running_mean.new"] = "\(name).running_mean"; updates["\(name).running_var.new"] = "\(name).running_var"
            return try g.relu(r.y)
        }
        var h = try bnRelu("bn1", conv("conv1", x, 1, width, 3), width)
        h = try bnRelu("bn2", conv("conv2", h, width, width, 3), width)
        let logits = try conv("head", h, width, 1, 1)
        g.output("loss", try g.stage1Loss(logits, t))
        let trainable = params.keys.filter { !$0.contains("running") }.sorted()
        let trainer = try Trainer(graph: g, loss: "loss", parameters: params, trainable: trainable,
                                  optimizer: Adam(lr: 1e-2), stateUpdates: updates)
        let t0 = Date()
        var first: Float = 0, last: Float = 0
        for s in 1...steps {
            let (img, mask) = discBatch(n: n, size: size, rng: &rng)
            let loss = try trainer.step(["image": img, "mask": mask])
            if s == 1 { first = loss }
            last = loss
            if s == 1 || s % 20 == 0 { print(String(format: "step %4d  loss %.4f", s, loss)) }
        }
        print(String(format: "loss %.4f -> %.4f in %d steps (%.2fs, %@ threads)", first, last, steps,
                     Date().timeIntervalSince(t0), "\(threads)" as NSString))
        if !(last < first) { throw ValidationError("the loss did not fall") }
        try segmentWithLiteMedSAM(rng: &rng)
    }

    /// Box-prompted LiteMedSAM on a generated image (skipped without the weights).
    func segmentWithLiteMedSAM(rng: inout SplitMix64) throws {
        guard let weights = try? Weights.liteMedSAM() else {
            print("== LiteMedSAM: weights not found (make weights); skipped"); return
        }
        print("== LiteMedSAM (pretrained, \(weights)) segmenting a generated ellipse from its box")
        let (h, w) = (192, 224)
        let (cy, cx, ry, rx): (Float, Float, Float, Float) = (90, 120, 40, 60)
        var img = [Float](), truth = [Bool]()
        for y in 0..<h { for x in 0..<w {
            let inside = pow((Float(y) - cy) / ry, 2) + pow((Float(x) - cx) / rx, 2) <= 1
            truth.append(inside)
            let v = (inside ? 170 : 60) + rng.uniform(-25, 25)
            img += [v, v, v]
        } }
        let t0 = Date()
        let p = try SAMPredictor(checkpoint: weights).predict(image: Tensor(shape: [h, w, 3], img),
                                                              boxes: [[cx - rx - 4, cy - ry - 4, cx + rx + 4, cy + ry + 4]])
        let m = p.masks.scalars
        var inter = 0, union = 0
        for i in 0..<(h * w) { if m[i] > 0 && truth[i] { inter += 1 }; if m[i] > 0 || truth[i] { union += 1 } }
        print(String(format: "mask IoU with the true ellipse %.3f (predicted IoU %.3f) in %.2fs", Double(inter) / Double(max(union, 1)),
                     p.iou.floats[0], Date().timeIntervalSince(t0)))
    }

    /// Noisy images with one bright disc each; the mask is the disc.
    func discBatch(n: Int, size: Int, rng: inout SplitMix64) -> (Tensor, Tensor) {
        var img = [Float](), mask = [Float]()
        for _ in 0..<n {
            let cy = rng.uniform(6, Float(size) - 6), cx = rng.uniform(6, Float(size) - 6), r = rng.uniform(3, 6)
            for y in 0..<size {
                for x in 0..<size {
                    let inside = (Float(y) - cy) * (Float(y) - cy) + (Float(x) - cx) * (Float(x) - cx) <= r * r
                    mask.append(inside ? 1 : 0)
                    img.append((inside ? 0.8 : 0.2) + rng.uniform(-0.3, 0.3))
                }
            }
        }
        return (Tensor(shape: [n, 1, size, size], img), Tensor(shape: [n, 1, size, size], mask))
    }
}


