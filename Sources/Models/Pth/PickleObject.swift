/// The unpickler's working values. Lists, dicts and objects are classes because pickle mutates
/// them after they were memoised (`EMPTY_DICT, BINPUT, …, SETITEMS`): every reference must see
/// the change. `PthDecoder` turns the finished tree into the value type `PickleValue`.
enum PObj {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list(PList)
    case tuple(PTuple)
    case dict(PDict)
    case global(module: String, name: String)
    case storage(StorageRef)
    case tensor(TensorRef)
    case object(PObject)

    static func tuple(_ items: [PObj]) -> PObj { .tuple(PTuple(items)) }

    /// The items when this is a tuple.
    var tupleItems: [PObj]? { if case .tuple(let t) = self { return t.items }; return nil }

    /// What kind of value this is, for error messages ("expected a tuple, got a dict").
    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .list: return "a list"
        case .tuple: return "a tuple"
        case .dict: return "a dict"
        case .global(let m, let n): return "the global \(m).\(n)"
        case .storage: return "a storage"
        case .tensor: return "a tensor"
        case .object(let o): return "a \(o.type) object"
        }
    }
}

/// Tuples are immutable in pickle, but a class gives them identity, so `dismantle` visits a
/// shared tuple once.
final class PTuple {
    private(set) var items: [PObj]
    init(_ items: [PObj]) { self.items = items }
    func removeAll() { items = [] }
}

final class PList {
    var items: [PObj]
    init(_ items: [PObj] = []) { self.items = items }
}

/// An insertion-ordered dict; string and int keys replace earlier entries as in Python.
final class PDict {
    private enum Key: Hashable { case string(String), int(Int) }
    private(set) var entries: [(key: PObj, value: PObj)] = []
    private var index: [Key: Int] = [:]

    func set(_ key: PObj, _ value: PObj) {
        let k: Key?
        switch key {
        case .string(let s): k = .string(s)
        case .int(let i): k = .int(i)
        case .bool(let b): k = .int(b ? 1 : 0)
        default: k = nil
        }
        if let k, let i = index[k] { entries[i].value = value; return }
        if let k { index[k] = entries.count }
        entries.append((key, value))
    }

    func removeAll() { entries = []; index = [:] }
}

/// An instance of a class the reader does not model (only with `keepUnknownObjects`).
final class PObject {
    let type: String
    var args: [PObj]
    var state: PObj?
    init(type: String, args: [PObj]) { self.type = type; self.args = args }
}

/// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`.
/// The bytes are fetched later from the zip entry `data/<key>` or the legacy file's tail.
final class StorageRef {
    let key: String
    let dtype: TorchDType
    let storageClass: String
    let location: String
    /// Elements of `dtype` the storage holds.
    let numel: Int
    /// Legacy view storages (`view_metadata`) start `elementOffset` elements into `key`'s storage.
    let elementOffset: Int
    init(key: String, dtype: TorchDType, storageClass: String, location: String, numel: Int, elementOffset: Int = 0) {
        self.key = key; self.dtype = dtype; self.storageClass = storageClass
        self.location = location; self.numel = numel; self.elementOffset = elementOffset
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)` before its storage bytes are read.
final class TensorRef {
    let storage: StorageRef
    /// Element type of the tensor (differs from the storage's only for `_rebuild_tensor_v3` on bytes).
    let dtype: TorchDType
    let offset: Int
    let size: [Int]
    let stride: [Int]
    var requiresGrad: Bool
    init(storage: StorageRef, dtype: TorchDType, offset: Int, size: [Int], stride: [Int], requiresGrad: Bool) {
        self.storage = storage; self.dtype = dtype; self.offset = offset
        self.size = size; self.stride = stride; self.requiresGrad = requiresGrad
    }
}

extension PObj {
    /// Releases an object graph without recursion. A hostile pickle can nest a million levels
    /// (`(((…)))`), and Swift releases nested containers recursively, which would overflow the
    /// stack; this empties every container from a work list instead, visiting each once.
    static func dismantle(_ roots: [PObj]) {
        var work = roots
        var seen = Set<ObjectIdentifier>()
        while let o = work.popLast() {
            switch o {
            case .tuple(let t):
                guard seen.insert(ObjectIdentifier(t)).inserted else { continue }
                work.append(contentsOf: t.items); t.removeAll()
            case .list(let l):
                guard seen.insert(ObjectIdentifier(l)).inserted else { continue }
                work.append(contentsOf: l.items); l.items = []
            case .dict(let d):
                guard seen.insert(ObjectIdentifier(d)).inserted else { continue }
                for e in d.entries { work.append(e.key); work.append(e.value) }
                d.removeAll()
            case .object(let p):
                guard seen.insert(ObjectIdentifier(p)).inserted else { continue }
                work.append(contentsOf: p.args); p.args = []
                if let s = p.state { work.append(s) }
                p.state = nil
            default: break
            }
        }
    }
}
