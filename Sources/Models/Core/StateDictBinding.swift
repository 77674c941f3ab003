import Tensor

/// Checks a state dict against the parameters a model declared: every declared key must be
/// present with exactly its shape; keys the model does not use are errors unless `ignoring`
/// matches them (e.g. BatchNorm's `num_batches_tracked`). All problems are listed at once.
public enum StateDictBinding {
    public static let ignoreBatchCounters: (String) -> Bool = { $0.hasSuffix("num_batches_tracked") }

    /// Checks names and shapes only.
    public static func check(_ shapes: [String: [Int]], against declared: [(name: String, shape: [Int])],
                             ignoring: (String) -> Bool = ignoreBatchCounters, allowExtra: Bool = false,
                             place: String = "state dict") throws {
        var missing: [String] = [], misshapen: [String] = []
        for (name, shape) in declared {
            guard let s = shapes[name] else { missing.append("\(name) \(ShapeMath.describe(shape))"); continue }
            if s != shape { misshapen.append("\(name): \(ShapeMath.describe(s)), expected \(ShapeMath.describe(shape))") }
        }
        let names = Set(declared.map(\.name))
        let extra = allowExtra ? [] : shapes.keys.filter { !names.contains($0) && !ignoring($0) }.sorted()
        if missing.isEmpty && misshapen.isEmpty && extra.isEmpty { return }
        var parts: [String] = []
        func list(_ title: String, _ xs: [String]) {
            if xs.isEmpty { return }
            parts.append("\(xs.count) \(title): \(xs.prefix(20).joined(separator: "; "))\(xs.count > 20 ? "; …" : "")")
        }
        list("missing", missing); list("mis-shaped", misshapen); list("unexpected", extra)
        throw SamdgError(place, parts.joined(separator: " | "))
    }

    /// Checks, then returns the declared tensors as float32.
    public static func bind(_ sd: [String: Tensor], to declared: [(name: String, shape: [Int])],
                            ignoring: (String) -> Bool = ignoreBatchCounters, allowExtra: Bool = false,
                            place: String = "state dict") throws -> [String: Tensor] {
        try check(sd.mapValues(\.shape), against: declared, ignoring: ignoring, allowExtra: allowExtra, place: place)
        var out: [String: Tensor] = [:]
        for (name, _) in declared { out[name] = sd[name]!.toFloat32() }
        return out
    }
}
