import Foundation
import Pipeline
import Tensor

/// `report`: the per-domain Dice table the paper compares (stage 1 alone, the full pipeline,
/// the full pipeline with ground-truth boxes), as markdown and CSV, plus the learning curves.
public struct ReportStage: StageRunner {
    public var kind: String { "report" }
    public var version: String { "2" }
    public init() {}

    public func run(_ c: StageContext) throws -> [String: String] {
        let split = try c.split()
        let seg = try StageFiles.readJSON(try c.input("segment", "metrics"), place: "report")
        let box = try StageFiles.readJSON(try c.input("box", "metrics"), place: "report")
        let ref = try StageFiles.readJSON(try c.input("refine", "metrics"), place: "report")
        func dice(_ o: [String: Any], _ path: [String]) -> [String: Double] {
            var cur: Any? = o
            for k in path { cur = (cur as? [String: Any])?[k] }
            return (cur as? [String: Double]) ?? (cur as? [String: Any])?.compactMapValues { ($0 as? NSNumber)?.doubleValue } ?? [:]
        }
        let columns: [(String, [String: Double])] = [
            ("stage 1 (θ=0.5)", dice(seg, ["dice"])),
            ("pretrained SAM, stage-1 boxes", dice(ref, ["pretrained"])),
            ("full pipeline", dice(ref, ["selected_by_source_val", "dice"])),
            ("full pipeline, seed selection (test-set)", dice(ref, ["selected_by_target_dice_seed", "dice"])),
            ("full pipeline, ground-truth boxes", dice(ref, ["gt_boxes_selected_decoder"])),
            ("pretrained SAM, ground-truth boxes", dice(ref, ["gt_boxes_pretrained"])),
            ("box IoU", dice(box, ["box_iou"])),
        ]
        let rows = split.evalSplits
        var md = "# \(c.instance): Dice per domain (source \(split.source))\n\n"
        md += "| domain | " + columns.map(\.0).joined(separator: " | ") + " |\n"
        md += "| --- |" + String(repeating: " ---: |", count: columns.count) + "\n"
        var csv = "domain," + columns.map { "\"\($0.0)\"" }.joined(separator: ",") + "\n"
        for r in rows {
            let label = r == "source_val" ? "\(split.source) (source, val)" : r
            md += "| \(label) | " + columns.map { $0.1[r].map { String(format: "%.3f", $0) } ?? "–" }.joined(separator: " | ") + " |\n"
            csv += "\(label)," + columns.map { $0.1[r].map { String(format: "%.4f", $0) } ?? "" }.joined(separator: ",") + "\n"
        }
        let targets = split.targets
        if !targets.isEmpty {
            func mean(_ d: [String: Double]) -> String {
                let v = targets.compactMap { d[$0] }
                return v.isEmpty ? "–" : String(format: "%.3f", v.reduce(0, +) / Double(v.count))
            }
            md += "| **mean of targets** | " + columns.map { mean($0.1) }.joined(separator: " | ") + " |\n"
        }
        let sel = (ref["selected_by_source_val"] as? [String: Any])?["epoch"] ?? "?"
        let seedSel = (ref["selected_by_target_dice_seed"] as? [String: Any])?["epoch"] ?? "?"
        md += "\nθ1 = \(box["theta1"] ?? "?"), θ2 = \(ref["theta2"] ?? "?"), merge \(ref["grid"] ?? "?")×\(ref["grid"] ?? "?"), "
        md += "decoder trained on \(ref["train_boxes"] ?? "?") boxes; epoch \(sel) selected on the source validation split "
        md += "(the seed's test-set selection would pick epoch \(seedSel)).\n"
        try AtomicFile.write(Data(md.utf8), to: c.outputDir + "/table.md")
        try AtomicFile.write(Data(csv.utf8), to: c.outputDir + "/table.csv")
        var outputs = ["table_md": "table.md", "table_csv": "table.csv"]
        for (name, file) in try ReportFigures.write(c, split: split, segment: seg, refine: ref) { outputs[name] = file }
        return outputs
    }
}
