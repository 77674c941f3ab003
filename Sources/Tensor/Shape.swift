/// Row-major (C order) helpers on a shape given as `[Int]`.
public enum ShapeMath {
    /// Number of elements (1 for a scalar).
    @inlinable public static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Contiguous row-major strides in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// NumPy broadcasting of two shapes; nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return out
    }

    /// When `part` broadcasts to `full` as "leading 1s, then `full`'s trailing dims" (so element b
    /// of the flattened `full` uses element b mod G of `part`), that G; nil otherwise. Missing
    /// leading dims count as 1s, and axes where `full` is 1 never matter.
    public static func suffixBroadcastGroups(_ part: [Int], to full: [Int]) -> Int? {
        guard part.count <= full.count else { return nil }
        let p = [Int](repeating: 1, count: full.count - part.count) + part
        var suffix = false
        for i in full.indices where full[i] != 1 {
            if p[i] == full[i] { suffix = true } else if p[i] != 1 || suffix { return nil }
        }
        return count(p)
    }

    /// Normalises a possibly negative axis against `rank`; nil when out of range.
    public static func axis(_ a: Int, rank: Int) -> Int? {
        let x = a < 0 ? a + rank : a
        return (x >= 0 && x < rank) ? x : nil
    }

    /// `[2, 3, 4]` → `"[2, 3, 4]"`, used in every error message.
    public static func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}
