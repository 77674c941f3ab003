import Foundation
import Pipeline
import Tensor

/// Figures of a report. PNG output arrives with the image codecs; until then the learning
/// curves are written as CSV.
enum ReportFigures {
    static func write(_ c: StageContext, split: SourceSplit, segment: [String: Any], refine: [String: Any]) throws -> [String: String] {
        var csv = "stage,epoch,loss," + split.evalSplits.map { "dice_\($0)" }.joined(separator: ",") + "\n"
        for (e, l) in ((segment["loss_per_epoch"] as? [Double]) ?? []).enumerated() {
            csv += "segment,\(e + 1),\(l)," + String(repeating: ",", count: max(0, split.evalSplits.count - 1)) + "\n"
        }
        for h in (refine["epochs"] as? [[String: Any]]) ?? [] {
            let d = (h["dice"] as? [String: Any]) ?? [:]
            csv += "refine,\(h["epoch"] ?? ""),\((h["loss"] as? Double).map { "\($0)" } ?? ""),"
            csv += split.evalSplits.map { ((d[$0] as? NSNumber)?.doubleValue).map { "\($0)" } ?? "" }.joined(separator: ",") + "\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: c.outputDir + "/curves.csv")
        return ["curves_csv": "curves.csv"]
    }
}
