import Datasets
import Foundation
import Pipeline
import Tensor

/// Stage 2, `box`: the seed's box refinement of stage-1 probabilities. Each probability map is
/// resized with torchvision `Resize(coarse)` (antialias), thresholded at θ1, reduced to its
/// largest 4-connected component, and its box scaled back by S / coarse (×4 for 512 and 128,
/// the seed's numbers); an empty map gives the whole image (seed quirk).
///
/// Output `boxes` (HDF5): `/<split>/boxes` N×4 (x0, y0, x1, y1, inclusive pixels on the S grid,
/// float32), `/<split>/gt_boxes` the ground-truth masks' boxes, and `metrics` (JSON: mean box IoU
/// against the ground truth, and how many maps were empty at θ1).
public struct BoxStage: StageRunner {
    public var kind: String { "box" }
    public var version: String { "1" }
    public init() {}

    public func run(_ c: StageContext) throws -> [String: String] {
        let theta1 = Float(try c.params.double("theta1", 0.75)), coarse = try c.params.int("coarse", 128)
        let probsPath = try c.input("segment", "probs")
        let split = try c.split()
        var tensors: [(String, Tensor)] = []
        var iou: [String: Double] = [:], empty: [String: Int] = [:]
        for name in ["source_train"] + split.evalSplits {
            let probs = try StageFiles.readH5(probsPath, "\(name)/probs", place: "box")
            let masks = try StageFiles.readH5(probsPath, "\(name)/masks", place: "box")
            let s = probs.shape[1]
            guard s % coarse == 0 else { throw SamdgError("stage \(c.instance)", "stage-1 size \(s) is not a multiple of coarse \(coarse)") }
            let boxes = try Self.boxes(probs, theta1: theta1, coarse: coarse)
            let gt = Self.gtBoxes(masks)
            tensors += [("\(name)/boxes", boxes), ("\(name)/gt_boxes", gt)]
            let n = probs.shape[0]
            iou[name] = n == 0 ? 0 : (0..<n).map { Self.iou(boxes, gt, $0) }.reduce(0, +) / Double(n)
            empty[name] = (0..<n).filter { i in !(0..<(s * s)).contains { probs.floats[i * s * s + $0] > theta1 } }.count
        }
        c.log("box IoU vs ground truth: " + iou.keys.sorted().map { "\($0) \(String(format: "%.3f", iou[$0]!))" }.joined(separator: ", "))
        try StageFiles.writeH5(c.outputDir + "/boxes.h5", tensors, attributes: ["theta1": "\(theta1)"])
        try StageFiles.writeJSON(c.outputDir + "/metrics.json", ["box_iou": iou, "empty_maps": empty, "theta1": Double(theta1)])
        return ["boxes": "boxes.h5", "metrics": "metrics.json"]
    }

    /// probs [N, S, S] → boxes [N, 4] float32 on the S grid.
    static func boxes(_ probs: Tensor, theta1: Float, coarse: Int) throws -> Tensor {
        let n = probs.shape[0], s = probs.shape[1]
        let small = s == coarse ? probs : try Prep.resizeShorterSide(probs, to: coarse)
        let b = try Prep.maskBoxes(small, threshold: theta1, scale: s / coarse)
        let src = b.buffer(Int64.self)
        return Tensor(shape: [n, 4], (0..<(n * 4)).map { Float(src[$0]) })
    }

    /// Box of all foreground pixels of each mask [N, S, S] uint8; empty masks give the whole image.
    static func gtBoxes(_ masks: Tensor) -> Tensor {
        let n = masks.shape[0], h = masks.shape[1], w = masks.shape[2]
        let m = masks.buffer(UInt8.self)
        var out: [Float] = []
        for i in 0..<n {
            var (x0, y0, x1, y1) = (w, h, -1, -1)
            for y in 0..<h { for x in 0..<w where m[(i * h + y) * w + x] != 0 { x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y) } }
            if x1 < 0 { (x0, y0, x1, y1) = (0, 0, w - 1, h - 1) }
            out += [Float(x0), Float(y0), Float(x1), Float(y1)]
        }
        return Tensor(shape: [n, 4], out)
    }

    static func iou(_ a: Tensor, _ b: Tensor, _ i: Int) -> Double {
        let p = a.floats, q = b.floats
        let ix = max(0, min(p[i * 4 + 2], q[i * 4 + 2]) - max(p[i * 4], q[i * 4]) + 1)
        let iy = max(0, min(p[i * 4 + 3], q[i * 4 + 3]) - max(p[i * 4 + 1], q[i * 4 + 1]) + 1)
        let area = { (t: UnsafeMutableBufferPointer<Float>) in (t[i * 4 + 2] - t[i * 4] + 1) * (t[i * 4 + 3] - t[i * 4 + 1] + 1) }
        let inter = Double(ix * iy)
        return inter / (Double(area(p)) + Double(area(q)) - inter)
    }
}
