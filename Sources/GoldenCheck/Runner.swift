import Foundation
import Tensor

/// `samdg check-golden`: evaluates every case of a manifest (or a group / one case) and prints
/// one line per case, then `N passed, M failed`.
public enum GoldenRunner {
    /// Evaluators by group; each returns nil for an op it does not know (UNSUPPORTED).
    nonisolated(unsafe) public static var evaluators: [String: (GoldenCase) throws -> [Comparison]?] = [
        "ops": OpCases.evaluate,
        "prep": PrepCases.evaluate,
        "models": ModelCases.evaluate,
    ]

    public struct Summary { public var passed = 0, failed = 0 }

    public static func run(manifest: String, group: String?, caseName: String?, skip: [String] = [], verbose: Bool = false,
                           print out: (String) -> Void = { print($0) }) throws -> Summary {
        let m = try Manifest(path: manifest)
        var s = Summary()
        let selected = m.cases.filter {
            (group == nil || $0.group == group) && (caseName == nil || $0.name == caseName) && !skip.contains($0.name)
        }
        if !skip.isEmpty { out("skipping: \(skip.joined(separator: ", "))") }
        if selected.isEmpty {
            throw SamdgError(manifest, "no case matches group \(group ?? "*") and name \(caseName ?? "*")")
        }
        for c in selected {
            let name = c.name.padding(toLength: max(28, c.name.count), withPad: " ", startingAt: 0)
            let t0 = Date()
            do {
                guard let eval = evaluators[c.group], let comps = try eval(c) else {
                    out("\(name) \("-".padding(toLength: 10, withPad: " ", startingAt: 0)) \("-".padding(toLength: 8, withPad: " ", startingAt: 0)) UNSUPPORTED (\(c.group)/\(c.op))")
                    s.failed += 1
                    continue
                }
                let worst = comps.max { $0.error / max($0.tolerance, 1e-30) < $1.error / max($1.tolerance, 1e-30) }
                let ok = comps.allSatisfy(\.passed)
                let err = worst.map { String(format: "%.3e", $0.error) } ?? "0"
                let tol = worst.map { String(format: "%.0e", $0.tolerance) } ?? "-"
                var line = "\(name) \(err.padding(toLength: 10, withPad: " ", startingAt: 0)) \(tol.padding(toLength: 8, withPad: " ", startingAt: 0)) \(ok ? "PASS" : "FAIL")"
                if !ok || verbose {
                    line += "  [" + comps.filter { !$0.passed || verbose }.map { "\($0.what): \(String(format: "%.2e", $0.error))" }.joined(separator: ", ") + "]"
                }
                if verbose { line += String(format: "  %.2fs", Date().timeIntervalSince(t0)) }
                out(line)
                if ok { s.passed += 1 } else { s.failed += 1 }
            } catch {
                out("\(name) \("-".padding(toLength: 10, withPad: " ", startingAt: 0)) \("-".padding(toLength: 8, withPad: " ", startingAt: 0)) FAIL  error: \(error)")
                s.failed += 1
            }
        }
        out("\(s.passed) passed, \(s.failed) failed")
        return s
    }
}
