import Datasets
import Foundation
import Tensor
import XCTest

/// The `prep` cases of ../shared/golden/manifest.json, run straight through `Prep` (this target
/// does not depend on GoldenCheck; `samdg check-golden --group prep` runs the same cases through
/// `PrepCases`). Target sizes come from the reference shapes here; the shape rule itself is
/// covered by `ResizeShorterSideTests`. Skipped when the manifest is absent.
final class PrepGoldenTests: XCTestCase {
    static let manifest = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../../shared/golden/manifest.json").standardized.path

    func testPrepCases() throws {
        guard FileManager.default.fileExists(atPath: Self.manifest) else {
            throw XCTSkip("no golden manifest at \(Self.manifest)")
        }
        let root = (Self.manifest as NSString).deletingLastPathComponent
        let top = try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: Self.manifest))) as? [String: Any]
        let cases = (top?["cases"] as? [[String: Any]] ?? []).filter { $0["group"] as? String == "prep" }
        XCTAssertEqual(cases.count, 6, "prep cases in the manifest")
        for c in cases {
            let name = c["name"] as? String ?? "?", op = c["op"] as? String ?? ""
            let tol = (c["tol"] as? NSNumber)?.doubleValue ?? 1e-5
            func load(_ key: String) throws -> [String: Tensor] {
                try (c[key] as? [String: String] ?? [:]).mapValues { try NPY.read((root as NSString).appendingPathComponent($0)) }
            }
            let ins = try load("inputs"), refs = try load("outputs")
            var got: [String: Tensor] = [:]
            switch op {
            case "resize":
                let (k, x) = ins.first!
                let r = refs[k]!
                got[k] = try Prep.cvResize(x, width: r.shape[1], height: r.shape[0])
            case "normalize":
                let n = try Prep.normalizeEqualize(ins["image_chw"]!)
                got = ["uint8": n.uint8, "equalized": n.equalized, "image": n.image]
            case "resize128":
                let r = refs["prob128"]!
                got["prob128"] = try Prep.resizeShorterSide(ins["prob"]!, to: min(r.shape[r.rank - 1], r.shape[r.rank - 2]))
            case "filter": got["boxes"] = try Prep.maskBoxes(ins["masks"]!, scale: 4)
            case "dice": got["dice"] = Tensor(scalar: try Prep.diceScore(ins["preds"]!, ins["targets"]!))
            default: XCTFail("\(name): unknown prep op \(op)"); continue
            }
            for (k, ref) in refs {
                guard let g = got[k] else { XCTFail("\(name): \(k) not produced"); continue }
                XCTAssertEqual(g.count, ref.count, "\(name).\(k) size")
                XCTAssertEqual(g.dtype, ref.dtype == .float64 ? .float32 : ref.dtype, "\(name).\(k) dtype")
                guard g.count == ref.count else { continue }
                let err: Double
                if tol == 0 || ref.dtype != .float32 {
                    err = zip(g.doubles, ref.doubles).contains { $0 != $1 } ? .infinity : 0
                } else {
                    err = relativeL2(g.scalars, ref.scalars)
                }
                print("prep golden \(name).\(k): error \(err) (tol \(tol))")
                XCTAssertLessThanOrEqual(err, tol, "\(name).\(k)")
            }
        }
    }
}
