import Foundation
import H5
import Models
import Pipeline
import SAMMed
import Tensor
import XCTest

/// A data stage for tests: two domains of bright discs on a noisy background, the second with
/// inverted contrast and more noise (a domain shift a small net trained on the first will feel).
struct DiscDomains: StageRunner {
    var kind: String { "discs" }
    var version: String { "1" }
    func run(_ c: StageContext) throws -> [String: String] {
        let n = try c.params.int("count"), s = try c.params.int("size")
        var out: [String: String] = [:]
        for (d, name) in ["A", "B"].enumerated() {
            var rng = SplitMix64(seed: UInt64(d + 1))
            let images = Tensor(zeros: [n, s, s, 3]), masks = Tensor(zeros: [n, s, s], dtype: .uint8)
            for i in 0..<n {
                let cx = Float(s) * rng.uniform(0.3, 0.7), cy = Float(s) * rng.uniform(0.3, 0.7), r = Float(s) * rng.uniform(0.12, 0.25)
                for y in 0..<s { for x in 0..<s {
                    let inside = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) < r * r
                    var v: Float = inside ? 180 : 60
                    if d == 1 { v = 255 - v * 0.8 }
                    v += rng.uniform(-1, 1) * (d == 0 ? 20 : 35)
                    for ch in 0..<3 { images.floats[((i * s + y) * s + x) * 3 + ch] = v }
                    masks.buffer(UInt8.self)[(i * s + y) * s + x] = inside ? 1 : 0
                } }
            }
            let path = c.outputDir + "/\(name).h5"
            try AtomicFile.replace(path) { tmp in
                let f = try H5File.create(tmp, overwrite: true)
                try f.write(images, at: "images"); try f.write(masks, at: "masks"); try f.close()
            }
            out["domain.\(name)"] = "\(name).h5"
        }
        return out
    }
}

final class PipelineEndToEndTests: XCTestCase {
    static let graph = """
    experiment: e2e
    stages:
      data:    {kind: discs, params: {count: 12, size: 64}}
      split:   {kind: split, inputs: [data], params: {source: A, val_fraction: 0.25}}
      segment: {kind: segment, inputs: [data, split], params: {backbone: resnet18, output_stride: 16, size: 64, epochs: 3, batch: 4, lr: 0.003}}
      box:     {kind: box, inputs: [segment, split], params: {theta1: 0.75, coarse: 32}}
      embed:   {kind: embed, inputs: [data, split], params: {merge: 2}}
      refine:  {kind: refine, inputs: [split, segment.probs, box.boxes, embed], params: {epochs: 2}}
      report:  {kind: report, inputs: [split, segment, box, refine]}
    """

    func testRunCacheRerunAfterThetaChange() throws {
        guard (try? Weights.liteMedSAM()) != nil else { throw XCTSkip("LiteMedSAM weights not fetched (make weights)") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-e2e-\(UInt32.random(in: 0...UInt32.max))").path
        let runner = PipelineRunner(store: try ContentStore(root: root), engineVersion: "test", runners: SAMMedStages.all + [DiscDomains()])
        if ProcessInfo.processInfo.environment["SAMDG_VERBOSE"] == nil { runner.log = { _ in } }
        let spec = try ExperimentSpec.parse(text: Self.graph, path: "e2e.yaml")
        let first = try runner.run(spec)
        XCTAssertTrue(first.allSatisfy { $0.outcome != .cached })
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            runner.store.objectPath(first.first { $0.instance == "refine" }!.record.outputs["metrics"]!.digest)))) as! [String: Any]
        let gt = metrics["gt_boxes_selected_decoder"] as! [String: Double]
        XCTAssertGreaterThan(gt["B"]!, 0.8, "LiteMedSAM with ground-truth boxes segments discs: \(gt)")
        let table = try String(contentsOfFile: runner.store.objectPath(first.last!.record.outputs["table_md"]!.digest), encoding: .utf8)
        XCTAssertTrue(table.contains("| B |"), table)

        XCTAssertTrue(try runner.run(spec).allSatisfy { $0.outcome == .cached })
        var changed = spec
        try changed.apply(overrides: ["box.theta1=0.5"])
        let st = try runner.status(changed)
        XCTAssertEqual(st.first { $0.instance == "segment" }?.state, .cached)
        XCTAssertEqual(st.first { $0.instance == "embed" }?.state, .cached)
        XCTAssertEqual(st.first { $0.instance == "box" }?.reasons, ["param theta1: 0.75 → 0.5"])
        let again = try runner.run(changed)
        XCTAssertEqual(again.filter { $0.outcome == .cached }.map(\.instance), ["data", "split", "segment", "embed"])
    }
}
