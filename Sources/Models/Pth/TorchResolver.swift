/// Options for reading `.pth` files.
public struct PthOptions: Sendable {
    /// Keep objects of classes the reader does not model as `PickleValue.object` instead of
    /// failing (for checkpoints that also pickle, say, an `argparse.Namespace`). Off by default:
    /// an unknown global is an error naming it.
    public var keepUnknownObjects: Bool

    public init(keepUnknownObjects: Bool = false) {
        self.keepUnknownObjects = keepUnknownObjects
    }
}

/// The torch side of unpickling: which globals a checkpoint may call and what they build.
///
/// Supported calls (the ones `torch.save` writes for tensors and state dicts):
/// - `torch._utils._rebuild_tensor` / `_rebuild_tensor_v2` / `_rebuild_tensor_v3`
/// - `torch._utils._rebuild_parameter` / `_rebuild_parameter_with_state`
/// - `torch._tensor._rebuild_from_type_v2` (when it wraps one of the above)
/// - `collections.OrderedDict`, `builtins.dict/list/tuple/set/frozenset`, `torch.Size`,
///   `_codecs.encode` (protocol-2 bytes)
/// Persistent ids are `('storage', <storage class>, key, location, numel[, view_metadata])`.
final class TorchResolver: PickleResolver {
    let options: PthOptions
    /// First storage seen for each key (legacy files need the element size to read the tail).
    private(set) var roots: [String: StorageRef] = [:]
    private(set) var rootOrder: [String] = []

    init(options: PthOptions) { self.options = options }

    // MARK: - REDUCE

    func call(_ callable: PObj, args: [PObj]) throws -> PObj {
        guard case .global(let module, let name) = callable else {
            throw PickleFault("REDUCE calls \(callable.kindName); expected a global function or class")
        }
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor"):
            return try rebuildTensor(args, function: name, requiresGradIndex: nil, dtypeIndex: nil)
        case ("torch._utils", "_rebuild_tensor_v2"):
            return try rebuildTensor(args, function: name, requiresGradIndex: 4, dtypeIndex: nil)
        case ("torch._utils", "_rebuild_tensor_v3"):
            return try rebuildTensor(args, function: name, requiresGradIndex: 4, dtypeIndex: 6)
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            guard let first = args.first, case .tensor(let t) = first else {
                throw PickleFault("\(module).\(name) expects a tensor first, got \(args.first?.kindName ?? "no arguments")")
            }
            if args.count > 1, case .bool(let rg) = args[1] { t.requiresGrad = rg }
            return first
        case ("torch._tensor", "_rebuild_from_type_v2"):
            // (func, new_type, args, state): rebuild with func(*args); the subclass is dropped.
            guard args.count >= 3, let inner = args[2].tupleItems else {
                throw PickleFault("torch._tensor._rebuild_from_type_v2 expects (func, type, args, state)")
            }
            return try call(args[0], args: inner)
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            let d = PDict()
            if let first = args.first {
                guard let pairs = Self.sequence(first) else {
                    throw PickleFault("\(module).\(name) expects a sequence of pairs, got \(first.kindName)")
                }
                for p in pairs {
                    guard let kv = p.tupleItems, kv.count == 2 else {
                        throw PickleFault("\(module).\(name) item is \(p.kindName); expected a (key, value) pair")
                    }
                    d.set(kv[0], kv[1])
                }
            }
            return .dict(d)
        case ("builtins", "list"), ("__builtin__", "list"), ("builtins", "set"), ("__builtin__", "set"),
             ("builtins", "frozenset"), ("__builtin__", "frozenset"):
            return .list(PList(try args.first.map { try Self.items($0, for: "\(module).\(name)") } ?? []))
        case ("builtins", "tuple"), ("__builtin__", "tuple"), ("torch", "Size"):
            return .tuple(try args.first.map { try Self.items($0, for: "\(module).\(name)") } ?? [])
        case ("_codecs", "encode"):
            guard let first = args.first, case .string(let s) = first else {
                throw PickleFault("_codecs.encode expects a string, got \(args.first?.kindName ?? "nothing")")
            }
            var out: [UInt8] = []
            for u in s.unicodeScalars {
                guard u.value < 256 else { throw PickleFault("_codecs.encode: character U+\(String(u.value, radix: 16)) is not latin-1") }
                out.append(UInt8(u.value))
            }
            return .bytes(out)
        default:
            return try unknown(module, name, args)
        }
    }

    func newObject(_ cls: PObj, args: [PObj]) throws -> PObj {
        guard case .global(let module, let name) = cls else {
            throw PickleFault("NEWOBJ on \(cls.kindName); expected a class")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("collections", "defaultdict"): return .dict(PDict())
        case ("builtins", "list"), ("builtins", "set"): return .list(PList())
        default: return try unknown(module, name, args)
        }
    }

    func build(_ object: PObj, state: PObj) throws {
        switch object {
        // OrderedDict state is its `__dict__` (a state_dict's `_metadata` version table): not data.
        case .dict, .list: return
        case .tensor: return
        case .object(let o): o.state = state
        default: throw PickleFault("BUILD on \(object.kindName) is not supported")
        }
    }

    private func unknown(_ module: String, _ name: String, _ args: [PObj]) throws -> PObj {
        if options.keepUnknownObjects { return .object(PObject(type: "\(module).\(name)", args: args)) }
        throw PickleFault("unsupported global \(module).\(name); expected tensors, storages, (Ordered)dicts, lists, tuples and scalars (a pickled nn.Module or custom class cannot be read: save a state_dict, or pass keepUnknownObjects)")
    }

    // MARK: - persistent ids

    func persistentLoad(_ pid: PObj) throws -> PObj {
        guard let t = pid.tupleItems, let tag = t.first else {
            throw PickleFault("persistent id is \(pid.kindName); expected a ('storage', …) tuple")
        }
        guard case .string("storage") = tag else {
            if case .string("module") = tag {
                throw PickleFault("persistent id names a pickled nn.Module source; only state dicts and tensors are supported")
            }
            throw PickleFault("persistent id starts with \(tag.kindName); expected 'storage'")
        }
        guard t.count == 5 || t.count == 6 else {
            throw PickleFault("storage persistent id has \(t.count) fields; expected ('storage', type, key, location, numel[, view_metadata])")
        }
        let storageClass: String, dtype: TorchDType
        switch t[1] {
        case .global(let m, let n) where m == "torch" || m == "torch.cuda" || m == "torch.storage":
            if let d = TorchDType.storageClasses[n] ?? TorchDType.dtypeNames[n] {
                storageClass = "\(m).\(n)"; dtype = d
            } else {
                throw PickleFault("unsupported storage type \(m).\(n); expected Float/Double/Half/BFloat16/Long/Int/Short/Char/Byte/Bool/UntypedStorage")
            }
        default:
            throw PickleFault("storage type is \(t[1].kindName); expected a torch storage class such as torch.FloatStorage")
        }
        let key: String
        switch t[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw PickleFault("storage key is \(t[2].kindName); expected a string")
        }
        let location: String
        if case .string(let s) = t[3] { location = s } else { location = "cpu" }
        guard case .int(let numel) = t[4], numel >= 0 else {
            throw PickleFault("storage '\(key)' numel is \(t[4].kindName); expected a non-negative int")
        }
        let root = StorageRef(key: key, dtype: dtype, storageClass: storageClass, location: location, numel: numel)
        if roots[key] == nil { roots[key] = root; rootOrder.append(key) }
        if t.count == 6, let view = t[5].tupleItems {
            // legacy view_metadata: (view_key, offset, view_size) in elements of the root storage
            guard view.count == 3, case .int(let off) = view[1], case .int(let n) = view[2], off >= 0, n >= 0 else {
                throw PickleFault("storage '\(key)' view metadata is malformed; expected (view_key, offset, size)")
            }
            guard n <= numel, off <= numel - n else {
                throw PickleFault("storage '\(key)' view of \(n) elements at \(off) exceeds its \(numel) elements")
            }
            return .storage(StorageRef(key: key, dtype: dtype, storageClass: storageClass, location: location,
                                       numel: n, elementOffset: off))
        }
        return .storage(root)
    }

    // MARK: - tensors

    private func rebuildTensor(_ args: [PObj], function: String, requiresGradIndex: Int?, dtypeIndex: Int?) throws -> PObj {
        let need = max(4, (dtypeIndex ?? 0) + 1)
        guard args.count >= need else {
            throw PickleFault("torch._utils.\(function) got \(args.count) arguments; expected at least \(need) (storage, offset, size, stride, …)")
        }
        guard case .storage(let storage) = args[0] else {
            throw PickleFault("torch._utils.\(function) storage argument is \(args[0].kindName); expected a storage persistent id")
        }
        guard case .int(let offset) = args[1] else {
            throw PickleFault("torch._utils.\(function) storage_offset is \(args[1].kindName); expected an int")
        }
        let size = try Self.ints(args[2], "size of \(function)")
        let stride = try Self.ints(args[3], "stride of \(function)")
        var requiresGrad = false
        if let i = requiresGradIndex, i < args.count, case .bool(let b) = args[i] { requiresGrad = b }
        var dtype = storage.dtype
        if let i = dtypeIndex {
            guard case .global(_, let n) = args[i], let d = TorchDType.dtypeNames[n] else {
                throw PickleFault("torch._utils.\(function) dtype is \(args[i].kindName); expected a torch dtype such as torch.float32")
            }
            dtype = d
        }
        return .tensor(TensorRef(storage: storage, dtype: dtype, offset: offset, size: size, stride: stride,
                                 requiresGrad: requiresGrad))
    }

    private static func ints(_ v: PObj, _ what: String) throws -> [Int] {
        guard let items = sequence(v) else { throw PickleFault("\(what) is \(v.kindName); expected a tuple of ints") }
        return try items.map {
            guard case .int(let i) = $0 else { throw PickleFault("\(what) holds \($0.kindName); expected ints") }
            return i
        }
    }

    private static func sequence(_ v: PObj) -> [PObj]? {
        switch v {
        case .tuple(let t): return t.items
        case .list(let l): return l.items
        default: return nil
        }
    }

    private static func items(_ v: PObj, for what: String) throws -> [PObj] {
        guard let s = sequence(v) else { throw PickleFault("\(what) expects a sequence, got \(v.kindName)") }
        return s
    }
}
