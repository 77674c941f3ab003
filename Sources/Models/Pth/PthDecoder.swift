import Tensor

/// Turns the unpickler's object graph into a `PickleValue`, reading each tensor's storage bytes
/// through `storageBytes` (a zip entry or a legacy record, cached by key by the caller).
/// Shared objects are converted once; a container that contains itself is an error.
struct PthDecoder {
    let place: String
    let littleEndian: Bool
    let storageBytes: (StorageRef) throws -> [UInt8]

    private var tensors: [ObjectIdentifier: PthTensor] = [:]
    private var active: Set<ObjectIdentifier> = []
    /// Checkpoints nest a handful of levels; the cap keeps recursion (here and in the release of
    /// the result) far from the stack limit.
    private static let maxDepth = 500
    /// Converted nodes; shared sub-trees are copied per reference, so a pickle of repeatedly
    /// doubled tuples could otherwise grow exponentially.
    private static let maxNodes = 20_000_000
    private var nodes = 0

    init(place: String, littleEndian: Bool, storageBytes: @escaping (StorageRef) throws -> [UInt8]) {
        self.place = place
        self.littleEndian = littleEndian
        self.storageBytes = storageBytes
    }

    mutating func value(_ o: PObj, depth: Int = 0) throws -> PickleValue {
        guard depth < Self.maxDepth else {
            throw SamdgError(place, "values nest deeper than \(Self.maxDepth) levels; expected a checkpoint-like tree")
        }
        nodes += 1
        guard nodes <= Self.maxNodes else {
            throw SamdgError(place, "more than \(Self.maxNodes) values (shared sub-trees expand on decoding); expected a checkpoint-like tree")
        }
        switch o {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .float(d)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .global(let m, let n): return .global(module: m, name: n)
        case .tuple(let t):
            try enter(t)
            defer { active.remove(ObjectIdentifier(t)) }
            return .tuple(try t.items.map { try value($0, depth: depth + 1) })
        case .list(let l):
            try enter(l)
            defer { active.remove(ObjectIdentifier(l)) }
            return .list(try l.items.map { try value($0, depth: depth + 1) })
        case .dict(let d):
            try enter(d)
            defer { active.remove(ObjectIdentifier(d)) }
            return .dict(try d.entries.map { (try value($0.key, depth: depth + 1), try value($0.value, depth: depth + 1)) })
        case .object(let obj):
            try enter(obj)
            defer { active.remove(ObjectIdentifier(obj)) }
            return .object(type: obj.type, args: try obj.args.map { try value($0, depth: depth + 1) },
                           state: try obj.state.map { try value($0, depth: depth + 1) })
        case .tensor(let t):
            if let done = tensors[ObjectIdentifier(t)] { return .tensor(done) }
            let bytes = try storageBytes(t.storage)
            let pt = try materialize(t, bytes: bytes, littleEndian: littleEndian, place: place)
            tensors[ObjectIdentifier(t)] = pt
            return .tensor(pt)
        case .storage(let s):
            // A bare storage (pickled without a tensor) reads as its 1-D contents.
            let t = TensorRef(storage: s, dtype: s.dtype, offset: 0, size: [s.numel], stride: [1], requiresGrad: false)
            return try value(.tensor(t), depth: depth)
        }
    }

    private mutating func enter(_ object: AnyObject) throws {
        let id = ObjectIdentifier(object)
        guard !active.contains(id) else {
            throw SamdgError(place, "a list, dict or object contains itself; expected a tree")
        }
        active.insert(id)
    }
}
