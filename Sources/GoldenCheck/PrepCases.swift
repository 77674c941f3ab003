import Datasets
import Foundation
import Tensor

/// Evaluates `prep`-group cases: the seed's data path (see Sources/Data/Prep). Sizes the case's
/// call fixes (cv2's dsize, `Resize(n)`, the box scale) are read from its `attrs` when present,
/// else from its `torch` text, never from the reference output.
enum PrepCases {
    static func evaluate(_ c: GoldenCase) throws -> [Comparison]? {
        let inputs = try c.loadInputs()
        func input(_ n: String) throws -> Tensor {
            guard let t = inputs[n] else { throw SamdgError("case \(c.name)", "input \"\(n)\" missing") }
            return t
        }
        var got: [String: Tensor] = [:]
        switch c.op {
        case "resize":
            guard inputs.count == 1, let (name, x) = inputs.first.map({ ($0.key, $0.value) }) else {
                throw SamdgError("case \(c.name)", "resize expects exactly one input, got \(inputs.keys.sorted())")
            }
            let (w, h) = try dsize(c)
            got[name] = try Prep.cvResize(x, width: w, height: h)
        case "normalize":
            let n = try Prep.normalizeEqualize(input("image_chw"))
            got = ["uint8": n.uint8, "equalized": n.equalized, "image": n.image]
        case "resize128":
            let size = try intAttr(c, "size") ?? firstInt(in: c.torch, after: "Resize(") ?? 128
            got["prob128"] = try Prep.resizeShorterSide(input("prob"), to: size)
        case "filter":
            let scale = try intAttr(c, "scale") ?? firstInt(in: c.torch, after: ") * ") ?? 4
            let thresh = try c.float("thresh", default: 0.5)
            got["boxes"] = try Prep.maskBoxes(input("masks"), threshold: thresh, scale: scale)
        case "dice":
            got["dice"] = Tensor(scalar: try Prep.diceScore(input("preds"), input("targets")))
        default:
            return nil
        }
        return try c.outputs.map { name, path in
            guard let t = got[name] else { return Comparison("output \(name) not produced", error: .infinity, tolerance: c.tol) }
            return compare(name, t, try c.load(path), tol: c.tol)
        }
    }

    /// cv2's `dsize = (width, height)`: attrs `dsize`/`size`, else the tuple in
    /// `cv2.resize(x, (W, H))`.
    static func dsize(_ c: GoldenCase) throws -> (Int, Int) {
        for key in ["dsize", "size"] where c.attrs[key] != nil {
            let v = try c.ints(key)
            if v.count == 2 { return (v[0], v[1]) }
        }
        if let open = c.torch.range(of: ", (") {
            let nums = c.torch[open.upperBound...].prefix { $0 != ")" }
                .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if nums.count == 2 { return (nums[0], nums[1]) }
        }
        throw SamdgError("case \(c.name)", "cannot find cv2.resize's (width, height) in attrs or in \"\(c.torch)\"")
    }

    static func intAttr(_ c: GoldenCase, _ key: String) throws -> Int? {
        c.attrs[key] == nil ? nil : try c.int(key)
    }

    /// The integer right after `marker` in `text`, if any.
    static func firstInt(in text: String, after marker: String) -> Int? {
        guard let r = text.range(of: marker) else { return nil }
        return Int(String(text[r.upperBound...].prefix { $0.isNumber }))
    }
}
