import Foundation
import Models
import SAMMed
import Tensor
import XCTest

final class PredictorTests: XCTestCase {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/golden/models").standardized.path
    static let liteWeights = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../data/weights/lite_medsam.pth").standardized.path

    func testArchitectureIsReadOffTheCheckpoint() throws {
        let path = Self.golden + "/sam_small.pth"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no golden sam_small.pth") }
        guard case .vit(let c) = try SAMPredictor(checkpoint: path).architecture else { return XCTFail("expected a ViT") }
        XCTAssertEqual(c.encoder.embedDim, 128); XCTAssertEqual(c.encoder.depth, 4); XCTAssertEqual(c.encoder.heads, 2)
        XCTAssertEqual(c.encoder.imageSize, 256); XCTAssertEqual(c.encoder.windowSize, 14)
        XCTAssertEqual(c.encoder.globalAttentionIndexes, [1, 3])
    }

    /// A bright rectangle on a noisy background, boxed: LiteMedSAM's mask must cover it.
    func testLiteMedSAMSegmentsABoxedRectangle() throws {
        guard FileManager.default.fileExists(atPath: Self.liteWeights) else { throw XCTSkip("run `make weights` first") }
        let p = try SAMPredictor(checkpoint: Self.liteWeights)
        let (h, w) = (120, 160)
        var v = [Float](), truth = [Bool]()
        var s: UInt64 = 1
        for y in 0..<h { for x in 0..<w {
            s = s &* 6364136223846793005 &+ 1
            let inside = y >= 30 && y < 90 && x >= 40 && x < 120
            truth.append(inside)
            let base: Float = inside ? 200 : 40
            for _ in 0..<3 { v.append(base + Float(s >> 59)) }
        } }
        let out = try p.predict(image: Tensor(shape: [h, w, 3], v), boxes: [[36, 26, 124, 94]])
        XCTAssertEqual(out.masks.shape, [1, 1, h, w])
        let m = out.masks.scalars
        var inter = 0, union = 0
        for i in 0..<(h * w) { if m[i] > 0 && truth[i] { inter += 1 }; if m[i] > 0 || truth[i] { union += 1 } }
        XCTAssertGreaterThan(Double(inter) / Double(union), 0.9, "IoU with the rectangle")
    }

    func testBadInputsAreNamed() throws {
        XCTAssertThrowsError(try SAMPredictor(checkpoint: "/nonexistent/sam.pth")) { XCTAssertTrue("\($0)".contains("/nonexistent/sam.pth")) }
        let path = Self.golden + "/deeplabv3_resnet50.bn_stats.pth"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no goldens") }
        XCTAssertThrowsError(try SAMPredictor(checkpoint: path)) { XCTAssertTrue("\($0)".contains("not a SAM checkpoint"), "\($0)") }
        let small = Self.golden + "/sam_small.pth"
        let p = try SAMPredictor(checkpoint: small)
        XCTAssertThrowsError(try p.predict(image: Tensor(zeros: [4, 4, 2]), boxes: [[0, 0, 1, 1]])) { XCTAssertTrue("\($0)".contains("[H, W, 3]")) }
        XCTAssertThrowsError(try p.predict(image: Tensor(zeros: [4, 4, 3]), boxes: [[0, 0, 1]])) { XCTAssertTrue("\($0)".contains("x0, y0, x1, y1")) }
    }
}
