import Foundation
import XCTest
import Models
import Tensor

/// The `pth_edge_cases` golden and the real `torch.save` files in ../shared/golden/models.
final class GoldenPthTests: XCTestCase {
    private func edgeCase() throws -> (root: String, files: [String], expected: [String: [String: Any]]) {
        let root = try goldenRoot()
        let data = try Data(contentsOf: URL(fileURLWithPath: root + "/manifest.json"))
        let top = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(top["cases"] as? [[String: Any]])
        let c = try XCTUnwrap(cases.first { $0["op"] as? String == "pth" })
        return (root, try XCTUnwrap(c["files"] as? [String]), try XCTUnwrap(c["expected"] as? [String: [String: Any]]))
    }

    func testEdgeCasesBothFormats() throws {
        let (root, files, expected) = try edgeCase()
        XCTAssertEqual(files.count, 2)
        var formats: [PthFormat] = []
        for f in files {
            let c = try PthReader.read(path: root + "/" + f)
            formats.append(c.format)
            let model = c.root["model"] ?? c.root
            if c.format == .zip {
                XCTAssertEqual(c.root["epoch"]?.intValue, 7)
                XCTAssertEqual(c.root["note"]?.stringValue, "nested")
            }
            for (name, e) in expected {
                let t = try XCTUnwrap(model[name]?.tensorValue, "\(f): \(name)")
                XCTAssertEqual(t.sourceDType.rawValue, e["dtype"] as? String, "\(f): \(name)")
                XCTAssertEqual(t.shape, (e["shape"] as? [NSNumber])?.map(\.intValue), "\(f): \(name)")
                // float32-exact (Foundation's JSON parser may be off in the last double digits)
                XCTAssertEqual(t.tensor.scalars, (e["values"] as? [NSNumber])?.map(\.floatValue), "\(f): \(name)")
            }
        }
        XCTAssertEqual(Set(formats), [.zip, .legacy])
    }

    /// [(key, shape, dtype)] from a `*.keys.json`.
    private func keys(_ file: String) throws -> [(key: String, shape: [Int], dtype: String)] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try goldenRoot() + "/models/" + file))
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [[Any]])
        return try rows.map { r in
            (try XCTUnwrap(r[0] as? String), try XCTUnwrap((r[1] as? [NSNumber])?.map(\.intValue)), try XCTUnwrap(r[2] as? String))
        }
    }

    private func load(_ file: String) throws -> [(key: String, tensor: PthTensor)] {
        let c = try PthReader.read(path: try goldenRoot() + "/models/" + file)
        XCTAssertEqual(c.format, .zip)
        return c.tensors()
    }

    func testSamSmallWeights() throws {
        let t = try load("sam_small.pth")
        XCTAssertEqual(t.count, 202)
        let d = Dictionary(uniqueKeysWithValues: t.map { ($0.key, $0.tensor) })
        XCTAssertEqual(d["image_encoder.pos_embed"]?.shape, [1, 16, 16, 128])
        XCTAssertEqual(d["image_encoder.patch_embed.proj.weight"]?.shape, [128, 3, 16, 16])
        for (k, v) in t {
            XCTAssertEqual(v.sourceDType, .float32, k)
            XCTAssertTrue(v.shape.allSatisfy { $0 > 0 }, k)
            XCTAssertTrue(v.tensor.floats.allSatisfy(\.isFinite), k)
        }
        // the prompt encoder and mask decoder are full size: same keys and shapes as ViT-B
        let vitb = Dictionary(uniqueKeysWithValues: try keys("sam_vit_b.keys.json").map { ($0.key, $0.shape) })
        let full = t.filter { $0.key.hasPrefix("mask_decoder.") || $0.key.hasPrefix("prompt_encoder.") }
        XCTAssertFalse(full.isEmpty)
        for (k, v) in full { XCTAssertEqual(vitb[k], v.shape, k) }
    }

    func testDecoderGradsMatchKeyLists() throws {
        for (file, keyFile) in [("sam_small.decoder_grads.pth", "sam_vit_b.keys.json"),
                                ("lite_medsam.decoder_grads.pth", "lite_medsam.keys.json")] {
            let t = try load(file)
            let ref = Dictionary(uniqueKeysWithValues: try keys(keyFile).map { ($0.key, $0.shape) })
            XCTAssertEqual(t.count, 114, file)
            for (k, v) in t {
                XCTAssertTrue(k.hasPrefix("mask_decoder."), "\(file): \(k)")
                XCTAssertEqual(ref[k], v.shape, "\(file): \(k)")
                XCTAssertEqual(v.sourceDType, .float32)
            }
        }
    }

    func testBatchNormStatsMatchKeyList() throws {
        let t = try load("deeplabv3_resnet50.bn_stats.pth")
        let ref = try keys("deeplabv3_resnet50.keys.json").filter { $0.key.hasSuffix(".running_mean") || $0.key.hasSuffix(".running_var") }
        XCTAssertEqual(t.map(\.key), ref.map(\.key))
        XCTAssertEqual(t.map(\.tensor.shape), ref.map(\.shape))
        for (k, v) in t where k.hasSuffix(".running_var") {
            XCTAssertTrue(v.tensor.floats.allSatisfy { $0 >= 0 }, k)
        }
    }

    /// Every truncation of the golden zip fails cleanly (never crashes).
    func testGoldenZipTruncations() throws {
        let root = try goldenRoot()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/models/pth_edge_cases.pth")))
        for keep in stride(from: 0, to: bytes.count, by: 97) {
            XCTAssertThrowsError(try PthReader.read(bytes: Array(bytes.prefix(keep)), name: "cut"))
        }
        let legacy = [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/models/pth_edge_cases_legacy.pth")))
        for keep in stride(from: 0, to: legacy.count, by: 13) {
            XCTAssertThrowsError(try PthReader.read(bytes: Array(legacy.prefix(keep)), name: "cut"))
        }
    }
}
