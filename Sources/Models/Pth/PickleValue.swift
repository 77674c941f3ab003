import Tensor

/// A tensor read from a `.pth` file: contiguous, in the engine dtype (`TorchDType.loadedAs`),
/// plus the element type the file stored it in.
public struct PthTensor: CustomStringConvertible {
    public let tensor: Tensor
    public let sourceDType: TorchDType
    public let requiresGrad: Bool

    public init(tensor: Tensor, sourceDType: TorchDType, requiresGrad: Bool = false) {
        self.tensor = tensor
        self.sourceDType = sourceDType
        self.requiresGrad = requiresGrad
    }

    public var shape: [Int] { tensor.shape }
    public var description: String { "PthTensor<\(sourceDType)>\(ShapeMath.describe(tensor.shape))" }
}

/// The value tree a `torch.save` pickle decodes to. Dicts keep their insertion order (a
/// `state_dict` is an `OrderedDict`); tensors are already materialised.
///
/// ```swift
/// let ckpt = try PthReader.read(path: "model.pth")
/// let epoch = ckpt.root["epoch"]?.intValue
/// let weights = try ckpt.root.stateDict(stripping: ["model.", "module."])
/// ```
public enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    case dict([(key: PickleValue, value: PickleValue)])
    case tensor(PthTensor)
    /// A class or function reference (`module.name`) that was pickled as a value.
    case global(module: String, name: String)
    /// An object of an unknown class, kept only when `PthOptions.keepUnknownObjects` is set.
    indirect case object(type: String, args: [PickleValue], state: PickleValue?)

    /// The value for a string key when this is a dict.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        for e in entries { if case .string(let k) = e.key, k == key { return e.value } }
        return nil
    }

    public var intValue: Int? { if case .int(let v) = self { return v }; return nil }
    public var doubleValue: Double? {
        switch self {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var stringValue: String? { if case .string(let v) = self { return v }; return nil }
    public var boolValue: Bool? { if case .bool(let v) = self { return v }; return nil }
    public var tensorValue: PthTensor? { if case .tensor(let v) = self { return v }; return nil }
    public var isNone: Bool { if case .none = self { return true }; return false }
    /// Elements of a list or tuple.
    public var items: [PickleValue]? {
        switch self {
        case .list(let v), .tuple(let v): return v
        default: return nil
        }
    }

    /// Short, one-line rendering (containers summarised) for error messages and debugging.
    public var description: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .string(let s): return "'\(s)'"
        case .bytes(let b): return "bytes(\(b.count))"
        case .list(let l): return "list(\(l.count))"
        case .tuple(let t): return "(" + t.map(\.description).joined(separator: ", ") + (t.count == 1 ? ",)" : ")")
        case .dict(let d): return "dict(\(d.count))"
        case .tensor(let t): return t.description
        case .global(let m, let n): return "\(m).\(n)"
        case .object(let t, _, _): return "<\(t) object>"
        }
    }
}
