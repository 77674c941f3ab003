import Foundation
import Runtime

/// Compiled plans by graph structure: the key is the structural hash (ops, attributes, shapes,
/// wiring and outputs; `Graph.structuralHash`), the node count and the fuse and training flags. Plans are plain
/// values, so a hit hands out a copy that shares nothing mutable. Least recently used entries go
/// beyond `capacity`. Thread-safe.
public final class PlanCache: @unchecked Sendable {
    public struct Key: Hashable, Sendable {
        public let hash: String
        public let nodes: Int
        public let fuse: Bool
        public var training = false
    }

    public static let shared = PlanCache()

    /// Plans kept (a ViT-B plan is ~100 KB of step data).
    public var capacity = 64
    public private(set) var hits = 0, misses = 0
    private var entries: [Key: (plan: Plan, used: Int)] = [:]
    private var clock = 0
    private let lock = NSLock()

    func plan(for key: Key) -> Plan? {
        lock.lock(); defer { lock.unlock() }
        guard let e = entries[key] else { misses += 1; return nil }
        clock += 1
        entries[key] = (e.plan, clock)
        hits += 1
        return e.plan
    }

    func insert(_ plan: Plan, for key: Key) {
        lock.lock(); defer { lock.unlock() }
        clock += 1
        entries[key] = (plan, clock)
        while entries.count > max(capacity, 1), let oldest = entries.min(by: { $0.value.used < $1.value.used }) {
            entries.removeValue(forKey: oldest.key)
        }
    }

    /// Forgets every plan (tests; after changing kernel tuning knobs).
    public func removeAll() {
        lock.lock(); defer { lock.unlock() }
        entries.removeAll()
        hits = 0; misses = 0
    }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return entries.count }
}
