import Tensor

/// Checks a state dict against the parameters a model declared: every declared key must be
/// present with exactly its shape; keys the model does not use are errors unless `ignoring`
/// matches them (e.g. BatchNorm's `num_batches_tracked`). All problems are listed at once.
public enum StateDictBinding {
    public static func bind(_ sd: [String: Tensor], to declared: [(name: String, shape: [Int])],
                            ignoring: (String) -> Bool = { $0.hasSuffix("num_batches_tracked") },
                            allowExtra: Bool = false, place: String = "state dict") throws -> [String: Tensor] {
        var missing: [String] = [], misshapen: [String] = []
        var out: [String: Tensor] = [:]
        let declaredNames = Set(declared.map(\.name))
        for (name, shape) in declared {
            guard let t = sd[name] else { missing.append("\(name) \(ShapeMath.describe(shape))"); continue }
            if t.shape != shape {
                misshapen.append("\(name): \(ShapeMath.describe(t.shape)), expected \(ShapeMath.describe(shape))")
                continue
            }
            out[name] = t.toFloat32()
        }
        let extra = allowExtra ? [] : sd.keys.filter { !declaredNames.contains($0) && !ignoring($0) }.sorted()
        if !missing.isEmpty || !misshapen.isEmpty || !extra.isEmpty {
            var parts: [String] = []
            func list(_ title: String, _ xs: [String]) {
                if xs.isEmpty { return }
                let shown = xs.prefix(20).joined(separator: "; ")
                parts.append("\(xs.count) \(title): \(shown)\(xs.count > 20 ? "; …" : "")")
            }
            list("missing", missing); list("mis-shaped", misshapen); list("unexpected", extra)
            throw SamdgError(place, parts.joined(separator: " | "))
        }
        return out
    }
}
