import Foundation
import Tensor

/// A parameter value of an experiment graph: what YAML scalars, lists and maps become. Its
/// canonical JSON (sorted keys, shortest round-trip numbers) is what fingerprints hash, so
/// `lr: 0.001` and `lr: 1.0e-3` are the same parameter and key order never matters.
public indirect enum ParamValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([ParamValue])
    case map([String: ParamValue])

    /// From the untyped tree Yams or JSONSerialization returns.
    public init(any value: Any?, place: String) throws {
        switch value {
        case nil, is NSNull: self = .null
        case let b as Bool: self = .bool(b)
        case let i as Int: self = .int(i)
        case let d as Double: self = .double(d)
        case let s as String: self = .string(s)
        case let a as [Any]: self = .list(try a.enumerated().map { try ParamValue(any: $0.element, place: "\(place)[\($0.offset)]") })
        case let m as [String: Any]:
            var out: [String: ParamValue] = [:]
            for (k, v) in m { out[k] = try ParamValue(any: v, place: "\(place).\(k)") }
            self = .map(out)
        case let m as [AnyHashable: Any]:
            var out: [String: ParamValue] = [:]
            for (k, v) in m { out["\(k.base)"] = try ParamValue(any: v, place: "\(place).\(k.base)") }
            self = .map(out)
        default:
            throw SamdgError(place, "unsupported value \(String(describing: value!)) (\(type(of: value!))); expected a scalar, list or map")
        }
    }

    /// A command-line override (`--set stage.param=VALUE`): YAML scalar rules, so `3` is an int,
    /// `1e-3` a number, `true` a bool, `[1, 2]` a list and anything else a string.
    public static func parse(_ text: String, place: String) throws -> ParamValue {
        try YAMLSpec.scalar(text, place: place)
    }

    public var canonicalJSON: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isFinite && d.rounded() == d && abs(d) < 1e15 { return String(Int(d)) }
            return d.isFinite ? "\(d)" : "\"\(d)\""
        case .string(let s): return Self.quote(s)
        case .list(let a): return "[" + a.map(\.canonicalJSON).joined(separator: ",") + "]"
        case .map(let m): return "{" + m.keys.sorted().map { Self.quote($0) + ":" + m[$0]!.canonicalJSON }.joined(separator: ",") + "}"
        }
    }

    public var description: String {
        if case .string(let s) = self { return s }
        return canonicalJSON
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// The untyped tree (for JSONSerialization).
    public var jsonObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .list(let a): return a.map(\.jsonObject)
        case .map(let m): return m.mapValues(\.jsonObject)
        }
    }

    // Typed accessors used by stages; each names the parameter when the type is wrong.
    public var doubleValue: Double? {
        switch self { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
    }
    public var intValue: Int? {
        switch self { case .int(let i): return i; case .double(let d) where d.rounded() == d: return Int(d); default: return nil }
    }
    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int, .double, .bool: return description
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var listValue: [ParamValue]? { if case .list(let a) = self { return a }; return nil }
    public var mapValue: [String: ParamValue]? { if case .map(let m) = self { return m }; return nil }
}

extension ParamValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([ParamValue].self) { self = .list(a) }
        else { self = .map(try c.decode([String: ParamValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .list(let a): try c.encode(a)
        case .map(let m): try c.encode(m)
        }
    }
}
