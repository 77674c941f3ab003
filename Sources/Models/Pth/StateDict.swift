import Tensor

extension PickleValue {
    /// Every tensor under this value with a dotted key, in file order: nested dicts contribute
    /// their keys (`{'model': {'w': t}}` → `model.w`), lists and tuples their indices. A key that
    /// starts with one of `prefixes` loses the first such prefix (`"module."`, `"model."`).
    public func tensors(stripping prefixes: [String] = []) -> [(key: String, tensor: PthTensor)] {
        var out: [(key: String, tensor: PthTensor)] = []
        func key(_ k: PickleValue) -> String {
            switch k {
            case .string(let s): return s
            case .int(let i): return String(i)
            default: return k.description
            }
        }
        func walk(_ v: PickleValue, _ path: String) {
            switch v {
            case .tensor(let t):
                var k = path
                if let p = prefixes.first(where: { k.hasPrefix($0) }) { k.removeFirst(p.count) }
                out.append((k, t))
            case .dict(let entries):
                for e in entries { walk(e.value, path.isEmpty ? key(e.key) : path + "." + key(e.key)) }
            case .list(let items), .tuple(let items):
                for (i, x) in items.enumerated() { walk(x, path.isEmpty ? String(i) : path + "." + String(i)) }
            default: break
            }
        }
        walk(self, "")
        return out
    }

    /// `tensors(stripping:)` as a dictionary. Two tensors that end up under one key (for
    /// example `model.w` and `w` with `"model."` stripped) are an error naming the key.
    public func stateDict(stripping prefixes: [String] = []) throws -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (k, t) in tensors(stripping: prefixes) {
            if d[k] != nil {
                throw SamdgError("state dict", "two tensors map to the key \"\(k)\" after stripping \(prefixes); expected unique keys")
            }
            d[k] = t.tensor
        }
        return d
    }
}
