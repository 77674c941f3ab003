import Foundation
import Graph
import Models
import Tensor
import XCTest

/// The model builders declare exactly the state-dict keys and shapes of the real checkpoints
/// (../shared/golden/models/*.keys.json), and mismatches are listed in the error.
final class StateDictKeysTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/golden/models").standardized.path

    func keys(_ name: String) throws -> [String: [Int]] {
        let path = Self.models + "/\(name).keys.json"
        guard let data = FileManager.default.contents(atPath: path) else { throw XCTSkip("no \(path)") }
        let list = try JSONSerialization.jsonObject(with: data) as! [[Any]]
        var d: [String: [Int]] = [:]
        for e in list { d[e[0] as! String] = e[1] as? [Int] }
        return d
    }

    func testViTBDeclaresExactlyTheCheckpointKeys() throws {
        let mb = ModelBuilder()
        let x = mb.graph.input("image", [1, 3, 1024, 1024]), b = mb.graph.input("boxes", [1, 4])
        _ = try mb.sam(image: x, boxes: b, .vitB)
        let k = try keys("sam_vit_b")
        XCTAssertEqual(k.count, 314)
        try StateDictBinding.check(k, against: mb.declared, place: "sam_vit_b")
    }

    func testLiteMedSAMDeclaresExactlyTheCheckpointKeys() throws {
        let mb = ModelBuilder()
        _ = try mb.liteMedSAM(image: mb.graph.input("image", [1, 3, 256, 256]), boxes: mb.graph.input("boxes", [1, 4]), LiteMedSAMConfig())
        try StateDictBinding.check(try keys("lite_medsam"), against: mb.declared, place: "lite_medsam")
    }

    func testDeepLabV3ResNet50DeclaresExactlyTheCheckpointKeys() throws {
        for mode in [NormMode.eval, .train(momentum: 0.1)] {
            let mb = ModelBuilder()
            _ = try mb.deepLabV3(mb.graph.input("image", [2, 3, 64, 64]), .resnet50OS8, mode: mode)
            try StateDictBinding.check(try keys("deeplabv3_resnet50"), against: mb.declared, place: "deeplabv3")
        }
    }

    func testMismatchesAreListed() throws {
        let mb = ModelBuilder()
        _ = try mb.deepLabV3(mb.graph.input("image", [1, 3, 32, 32]), .resnet18OS8, mode: .eval)
        var k = Dictionary(uniqueKeysWithValues: mb.declared.map { ($0.name, $0.shape) })
        k.removeValue(forKey: "backbone.conv1.weight")
        k["backbone.bn1.weight"] = [65]
        k["backbone.fc.weight"] = [10, 512]
        XCTAssertThrowsError(try StateDictBinding.check(k, against: mb.declared, place: "r18.pth")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("r18.pth") && m.contains("1 missing: backbone.conv1.weight [64, 3, 7, 7]"), m)
            XCTAssertTrue(m.contains("backbone.bn1.weight: [65], expected [64]") && m.contains("1 unexpected: backbone.fc.weight"), m)
        }
    }

    func testLightBackbonesBuildAtBothStrides() throws {
        for cfg in [DeepLabV3Config(backbone: .resnet18(outputStride: 8)), DeepLabV3Config(backbone: .resnet34(outputStride: 16))] {
            let mb = ModelBuilder()
            let y = try mb.deepLabV3(mb.graph.input("image", [2, 3, 64, 64]), cfg, mode: .train(momentum: 0.1))
            XCTAssertEqual(mb.graph.shape(y), [2, 1, 64, 64])
            try mb.graph.verify()
        }
    }
}
