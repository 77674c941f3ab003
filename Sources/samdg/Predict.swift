import ArgumentParser
import Foundation
import Kernels
import SAMMed
import Tensor

/// `samdg predict`: box-prompted SAM / LiteMedSAM inference on one image.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Segment an image with box prompts, like segment-anything's SamPredictor.",
        discussion: "Writes <out>.logits.npy [B,T,H,W] float32, <out>.mask.npy [B,T,H,W] uint8, <out>.iou.npy [B,T] and prints the IoU predictions.")

    @Option(help: "SAM checkpoint: .pth (sam_vit_b_01ec64.pth, lite_medsam.pth) or samdg .h5") var checkpoint: String
    @Option(help: "Image .npy, [H, W, 3] or [H, W]") var image: String
    @Option(name: .customLong("box"), help: "A box x0,y0,x1,y1 in image pixels (repeatable)") var boxes: [String]
    @Option(help: "Output prefix") var out = "prediction"
    @Flag(help: "Return SAM's three multimask outputs instead of one") var multimask = false
    @Option(help: "Worker threads") var threads = 2

    func run() throws {
        Parallel.configure(threads: threads)
        let parsed = try boxes.map { b -> [Float] in
            let v = b.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == 4 else { throw ValidationError("--box \(b): expected four numbers x0,y0,x1,y1") }
            return v
        }
        let predictor = try SAMPredictor(checkpoint: checkpoint)
        let img = try NPY.read(image)
        let t0 = Date()
        let p = try predictor.predict(image: img, boxes: parsed, multimask: multimask)
        try NPY.write(p.logits, to: out + ".logits.npy")
        try NPY.write(p.masks, to: out + ".mask.npy")
        try NPY.write(p.iou, to: out + ".iou.npy")
        print("\(predictor.architecture): \(parsed.count) box(es) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
        for (i, b) in parsed.enumerated() {
            let t = p.iou.shape[1]
            let ious = (0..<t).map { String(format: "%.3f", p.iou.floats[i * t + $0]) }.joined(separator: " ")
            let area = (0..<(p.masks.count / parsed.count / t)).reduce(0) { $0 + Int(p.masks.buffer(UInt8.self)[i * p.masks.count / parsed.count + $1]) }
            print("box \(b.map { String(format: "%.0f", $0) }.joined(separator: ",")): iou \(ious), mask area \(area) px")
        }
        print("wrote \(out).logits.npy, \(out).mask.npy, \(out).iou.npy")
    }
}
