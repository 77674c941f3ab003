import Datasets
import Foundation
import Pipeline
import Tensor

/// Figures of a report:
/// - `curves.csv` and `curves.png`: stage-1 training loss per epoch (left panel, black) and the
///   refinement's Dice per epoch (right panel; epoch 0 = the pretrained decoder) for the source
///   validation split (blue) and each target (orange, green, red, purple…), axes from 0;
/// - `overlay_<split>.png`: the first images of each evaluation split, ground truth outlined in
///   green, the pipeline's mask in red, the stage-1 box in yellow.
enum ReportFigures {
    static let palette: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]

    static func write(_ c: StageContext, split: SourceSplit, segment: [String: Any], refine: [String: Any]) throws -> [String: String] {
        let losses = (segment["loss_per_epoch"] as? [Double]) ?? []
        let history = (refine["epochs"] as? [[String: Any]]) ?? []
        func dice(_ h: [String: Any], _ s: String) -> Double? { ((h["dice"] as? [String: Any])?[s] as? NSNumber)?.doubleValue }
        var csv = "stage,epoch,loss," + split.evalSplits.map { "dice_\($0)" }.joined(separator: ",") + "\n"
        for (e, l) in losses.enumerated() {
            csv += "segment,\(e + 1),\(l)," + String(repeating: ",", count: max(0, split.evalSplits.count - 1)) + "\n"
        }
        for h in history {
            csv += "refine,\(h["epoch"] ?? ""),\((h["loss"] as? Double).map { "\($0)" } ?? ""),"
            csv += split.evalSplits.map { s in dice(h, s).map { "\($0)" } ?? "" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: c.outputDir + "/curves.csv")
        var out = ["curves_csv": "curves.csv"]

        // Learning curves
        var cv = RGBCanvas(width: 640, height: 260)
        func panel(_ x0: Int, _ series: [([Double], (UInt8, UInt8, UInt8))], maxY: Double) {
            let (w, h, y0) = (280, 200, 230)
            cv.line(x0, y0, x0 + w, y0, (0, 0, 0)); cv.line(x0, y0, x0, y0 - h, (0, 0, 0))
            for k in 1...4 { cv.line(x0 - 3, y0 - h * k / 4, x0, y0 - h * k / 4, (0, 0, 0)) }
            for (vals, color) in series where vals.count >= 1 {
                let pts = vals.enumerated().map { (i, v) in
                    (x0 + (vals.count == 1 ? 0 : i * w / (vals.count - 1)), y0 - Int((min(v, maxY) / max(maxY, 1e-9)) * Double(h)))
                }
                for i in 1..<max(pts.count, 1) where pts.count > 1 { cv.line(pts[i - 1].0, pts[i - 1].1, pts[i].0, pts[i].1, color, thick: 2) }
                for p in pts { cv.fill(p.0 - 2, p.1 - 2, p.0 + 2, p.1 + 2, color) }
            }
        }
        panel(30, [(losses, (0, 0, 0))], maxY: losses.max() ?? 1)
        panel(340, split.evalSplits.enumerated().map { (i, s) in (history.compactMap { dice($0, s) }, palette[i % palette.count]) }, maxY: 1)
        try PNG.write(cv.tensor, to: c.outputDir + "/curves.png")
        out["curves_png"] = "curves.png"

        // Overlays (when the data, probabilities, boxes and predictions are inputs)
        guard (try? c.domainFiles()) != nil, let probs = try? c.input("segment", "probs"),
              let boxes = try? c.input("box", "boxes"), let preds = try? c.input("refine", "predictions") else { return out }
        let shown = try c.params.int("overlays", 4)
        for (name, domain, indices) in try c.evaluationSets(split, includeTrain: false) where shown > 0 {
            let gt = try StageFiles.readH5(probs, "\(name)/masks", place: "report")
            let pr = try StageFiles.readH5(preds, "\(name)/pred", place: "report")
            let bx = try StageFiles.readH5(boxes, "\(name)/boxes", place: "report")
            let s = gt.shape[1], n = min(shown, indices.count)
            var ov = RGBCanvas(width: n * (s + 4) + 4, height: s + 8)
            for k in 0..<n {
                let img = try domain.prepared(indices[k], size: s).image
                let ox = 4 + k * (s + 4)
                ov.gray(img.floats, offset: 0, size: s, at: ox, 4)
                ov.outline(gt.buffer(UInt8.self), offset: k * s * s, size: s, at: ox, 4, (0, 220, 0))
                ov.outline(pr.buffer(UInt8.self), offset: k * s * s, size: s, at: ox, 4, (230, 30, 30))
                let b = (0..<4).map { Int(bx.floats[k * 4 + $0]) }
                ov.rect(ox + b[0], 4 + b[1], ox + b[2], 4 + b[3], (240, 220, 0))
            }
            let file = "overlay_\(name).png"
            try PNG.write(ov.tensor, to: c.outputDir + "/" + file)
            out["overlay_\(name)"] = file
        }
        return out
    }
}
