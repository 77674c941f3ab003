import Tensor

/// FNV-1a 64-bit over bytes; stable across runs and platforms (unlike `Hasher`).
public struct StableHasher {
    public private(set) var state: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func combine(_ s: String) {
        for b in s.utf8 { state = (state ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = (state ^ 0xff) &* 0x100_0000_01b3
    }
    public mutating func combine(_ i: Int) { combine(String(i)) }
    public var hex: String { String(format: "%016llx", state) }
}

import Foundation

extension Graph {
    /// A hash of the graph's structure: ops, attributes, shapes, wiring and outputs, not labels.
    /// Two graphs that compute the same thing node for node hash equal; it keys plan caches.
    public var structuralHash: String {
        var h = StableHasher()
        for n in nodes {
            h.combine(n.op.name)
            h.combine(n.op.attributeText)
            h.combine(ShapeMath.describe(n.shape))
            for v in n.inputs { h.combine(v.id) }
        }
        for (name, v) in outputs { h.combine(name); h.combine(v.id) }
        return h.hex
    }

    /// Checks SSA order, operand counts and that every stored shape is what inference gives.
    public func verify() throws {
        var names = Set<String>()
        for (i, n) in nodes.enumerated() {
            let place = "node %\(i) (\(n.op.name)\(n.label.map { " in " + $0 } ?? ""))"
            for v in n.inputs where v.id >= i || v.id < 0 {
                throw SamdgError(place, "operand \(v) is not defined before use")
            }
            let inferred: [Int]
            do { inferred = try n.op.inferShape(n.inputs.map { nodes[$0.id].shape }) } catch let e as ShapeError {
                throw SamdgError(place, e.message)
            }
            if inferred != n.shape {
                throw SamdgError(place, "stored shape \(ShapeMath.describe(n.shape)) but operands give \(ShapeMath.describe(inferred))")
            }
            switch n.op {
            case .input(let nm, _), .parameter(let nm, _):
                if !names.insert(nm).inserted { throw SamdgError(place, "duplicate leaf name \"\(nm)\"") }
            default: break
            }
        }
        for (name, v) in outputs where v.id >= nodes.count {
            throw SamdgError("output \"\(name)\"", "refers to missing node \(v)")
        }
    }
}
