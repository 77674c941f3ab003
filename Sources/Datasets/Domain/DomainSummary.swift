import Foundation
import Tensor

extension DomainData {
    /// A human-readable report: counts, shapes, intensity range, foreground fraction and the
    /// provenance (what `samdg data info` prints).
    public func summary(listing maxSkipped: Int = 20) -> String {
        var lines: [String] = []
        lines.append("domain \(domain): format \(attributes.format), mask rule \(attributes.maskRule)")
        lines.append("  samples \(count), images float32 \(ShapeMath.describe(images.shape)), masks uint8 \(ShapeMath.describe(masks.shape))")
        let px = images.floats
        if !px.isEmpty {
            let (lo, hi) = px.reduce((Float.infinity, -Float.infinity)) { (min($0.0, $1), max($0.1, $1)) }
            let mean = px.reduce(0.0) { $0 + Double($1) } / Double(px.count)
            lines.append("  intensity min \(Self.number(Double(lo))), max \(Self.number(Double(hi))), mean \(Self.number(mean))")
        }
        let hw = Double(max(1, height * width))
        let fractions = (0..<count).map { Double(foregroundPixels($0)) / hw }.sorted()
        if !fractions.isEmpty {
            let empty = fractions.filter { $0 == 0 }.count
            lines.append("  foreground \(Self.percent(foregroundFraction)) of pixels; per sample min \(Self.percent(fractions.first!)), median \(Self.percent(fractions[fractions.count / 2])), max \(Self.percent(fractions.last!)); \(empty) empty mask(s)")
        }
        let shown = ids.prefix(5).joined(separator: ", ")
        lines.append("  ids \(shown)\(ids.count > 5 ? ", … (\(ids.count))" : "")")
        let p = attributes.provenance
        lines.append("  provenance: \(p.format) from \(p.source)")
        lines.append("    options " + p.options.keys.sorted().map { "\($0)=\(p.options[$0]!)" }.joined(separator: " "))
        lines.append("    counts " + p.counts.keys.sorted().map { "\($0)=\(p.counts[$0]!)" }.joined(separator: " "))
        if !p.skipped.isEmpty {
            lines.append("    skipped \(p.skipped.count) file(s):")
            for s in p.skipped.prefix(maxSkipped) { lines.append("      \(s.file): \(s.reason)") }
            if p.skipped.count > maxSkipped { lines.append("      … and \(p.skipped.count - maxSkipped) more") }
        }
        return lines.joined(separator: "\n")
    }

    private static func number(_ v: Double) -> String { String(format: "%.4g", v) }
    private static func percent(_ v: Double) -> String { String(format: "%.2f%%", 100 * v) }
}
