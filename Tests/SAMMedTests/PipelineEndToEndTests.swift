import Foundation
import Models
import Pipeline
import SAMMed
import Tensor
import XCTest

final class PipelineEndToEndTests: XCTestCase {
    static let graph = """
    experiment: e2e
    stages:
      data:    {kind: phantoms, params: {count: 12, size: 64, domains: [source, target-b]}}
      split:   {kind: split, inputs: [data], params: {source: source, val_fraction: 0.25}}
      segment: {kind: segment, inputs: [data, split], params: {backbone: resnet18, output_stride: 16, size: 64, epochs: 3, batch: 4, lr: 0.003}}
      box:     {kind: box, inputs: [segment, split], params: {theta1: 0.75, coarse: 32}}
      embed:   {kind: embed, inputs: [data, split], params: {merge: 2}}
      refine:  {kind: refine, inputs: [split, segment.probs, box.boxes, embed], params: {epochs: 2}}
      report:  {kind: report, inputs: [data, split, segment, box, refine]}
    """

    func testRunCacheRerunAfterThetaChange() throws {
        guard (try? Weights.liteMedSAM()) != nil else { throw XCTSkip("LiteMedSAM weights not fetched (make weights)") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-e2e-\(UInt32.random(in: 0...UInt32.max))").path
        let runner = PipelineRunner(store: try ContentStore(root: root), engineVersion: "test", runners: SAMMedStages.all)
        if ProcessInfo.processInfo.environment["SAMDG_VERBOSE"] == nil { runner.log = { _ in } }
        let spec = try ExperimentSpec.parse(text: Self.graph, path: "e2e.yaml")
        let first = try runner.run(spec)
        XCTAssertTrue(first.allSatisfy { $0.outcome != .cached })
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath:
            runner.store.objectPath(first.first { $0.instance == "refine" }!.record.outputs["metrics"]!.digest)))) as! [String: Any]
        let gt = metrics["gt_boxes_selected_decoder"] as! [String: Double]
        XCTAssertGreaterThan(gt["target-b"]!, 0.8, "LiteMedSAM with ground-truth boxes segments discs: \(gt)")
        let table = try String(contentsOfFile: runner.store.objectPath(first.last!.record.outputs["table_md"]!.digest), encoding: .utf8)
        XCTAssertTrue(table.contains("| target-b |"), table)

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
