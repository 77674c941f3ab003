import Foundation
import Models
import Tensor

/// Evaluates the `pth` case (`pth_edge_cases`): reads every file of `files` with `PthReader`
/// and compares each tensor of `expected` (dtype as stored in the file, shape, exact values).
/// The zip file holds `{'model': {...}, 'epoch': E, 'note': N}`; E and N are taken from the
/// case's `torch` text and checked too. A file whose root has no `model` key is read as the
/// model dict itself (the legacy file holds only that dict).
enum PthCases {
    static func evaluate(_ c: GoldenCase) throws -> [Comparison]? {
        guard c.op == "pth" else { return nil }
        guard let files = c.raw["files"] as? [String], !files.isEmpty else {
            throw SamdgError("case \(c.name)", "\"files\" missing; expected a list of .pth paths")
        }
        guard let expected = c.raw["expected"] as? [String: Any], !expected.isEmpty else {
            throw SamdgError("case \(c.name)", "\"expected\" missing; expected name → {dtype, shape, values}")
        }
        var out: [Comparison] = []
        func check(_ what: String, _ ok: Bool) { out.append(Comparison(what, error: ok ? 0 : .infinity, tolerance: 0)) }

        for file in files {
            let ckpt = try PthReader.read(path: (c.root as NSString).appendingPathComponent(file))
            let tag = (file as NSString).lastPathComponent
            var model = ckpt.root
            if let m = ckpt.root["model"] {
                model = m
                if let epoch = firstMatch(#"'epoch':\s*(-?\d+)"#, in: c.torch).flatMap(Int.init) {
                    check("\(tag) epoch", ckpt.root["epoch"]?.intValue == epoch)
                }
                if let note = firstMatch(#"'note':\s*'([^']*)'"#, in: c.torch) {
                    check("\(tag) note", ckpt.root["note"]?.stringValue == note)
                }
            }
            for name in expected.keys.sorted() {
                guard let e = expected[name] as? [String: Any], let dtype = e["dtype"] as? String,
                      let shape = (e["shape"] as? [NSNumber])?.map(\.intValue),
                      let numbers = e["values"] as? [NSNumber] else {
                    throw SamdgError("case \(c.name)", "expected.\(name) needs dtype, shape and values")
                }
                guard let t = model[name]?.tensorValue else {
                    check("\(tag) \(name) present", false)
                    continue
                }
                check("\(tag) \(name) dtype \(t.sourceDType.rawValue) vs \(dtype)", t.sourceDType.rawValue == dtype)
                guard t.shape == shape, numbers.count == t.tensor.count else {
                    check("\(tag) \(name) shape \(ShapeMath.describe(t.shape)) vs \(ShapeMath.describe(shape))", false)
                    continue
                }
                // Exact in the stored dtype. Floats compare as float32 (every expected value is
                // float32-representable, and Foundation's JSON parser can be off in the last
                // double digits); integers and bools compare as Int64.
                let got: [Double], want: [Double]
                switch t.tensor.dtype {
                case .int64:
                    got = t.tensor.buffer(Int64.self).map { Double($0) }
                    want = numbers.map { Double($0.int64Value) }
                case .uint8, .bool:
                    got = t.tensor.buffer(UInt8.self).map { Double($0) }
                    want = numbers.map { Double($0.int64Value) }
                default:
                    got = t.tensor.doubles.map { Double(Float($0)) }
                    want = numbers.map { Double($0.floatValue) }
                }
                let bad = zip(got, want).filter { $0 != $1 }.count
                let num = zip(got, want).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                let den = want.reduce(0.0) { $0 + $1 * $1 }
                let err = bad == 0 ? 0 : (den > 0 ? max((num / den).squareRoot(), .leastNonzeroMagnitude) : .infinity)
                out.append(Comparison("\(tag) \(name) values (\(bad) of \(numbers.count) differ)", error: err, tolerance: 0))
            }
        }
        return out
    }

    private static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
              let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), m.numberOfRanges > 1,
              let r = Range(m.range(at: 1), in: text) else { return nil }
        return String(text[r])
    }
}
