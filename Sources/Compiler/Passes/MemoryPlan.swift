import Kernels
import Runtime
import Tensor

/// Memory planning: one arena per plan, offsets reused across non-overlapping lifetimes.
///
/// Algorithm: a step's result lives from the step that writes it to the last step that reads it
/// (a `reshape` view extends the lifetime of the buffer it aliases). Results that leave the plan
/// (outputs, and buffers an output views) are not planned: the caller keeps them. Walking the
/// steps in order, each result takes the lowest offset whose range is free of every buffer still
/// live at that step (first fit, 64-byte aligned); a buffer read for the last time at step k is
/// free from step k + 1 on.
///
/// In place: an elementwise step (unary, unary-grad, binary, fused program, or the addend of a
/// GEMM accumulation) writes over an operand's buffer when that operand has the result's shape,
/// is read for the last time here, is a planned buffer of its own (not a view, not escaping),
/// and no other operand of the step reads the same buffer through a view (which would index it
/// differently). Every such kernel reads element i before it writes element i, so the result
/// can take the operand's bytes from this step on; a GEMM accumulation additionally never
/// overwrites its A or B operand.
///
/// ```
///   step:   0    1    2    3    4
///   a   [=========]                      offset 0
///   b        [==========]                offset |a|
///   c                  [=========]       offset 0   (a is dead after step 1)
/// ```
enum MemoryPlanner {
    static func plan(_ p: inout Plan) {
        let n = p.slotShapes.count
        var root = Array(0..<n)                       // buffer each slot lives in
        var def = [Int](repeating: -1, count: n)
        var end = [Int](repeating: -1, count: n)
        for (k, s) in p.steps.enumerated() {
            def[s.out] = k
            if case .reshape = s.kernel { root[s.out] = root[s.args[0]] }
            for a in s.args { end[root[a]] = max(end[root[a]], k) }
        }
        var escapes = Set<Int>()
        for (_, slot) in p.outputs { escapes.insert(root[slot]) }
        for (_, slot) in p.bindings { escapes.insert(slot) }
        var offsets = [Int?](repeating: nil, count: n)
        var live: [(offset: Int, size: Int, end: Int)] = []
        var arena = 0
        var inPlace: [Int: Int] = [:]
        func sizeOf(_ slot: Int) -> Int { (ShapeMath.count(p.slotShapes[slot]) * 4 + 63) / 64 * 64 }
        /// the operand whose buffer step k may overwrite, if any
        func donor(_ s: Plan.Step, _ k: Int) -> Int? {
            var candidates: [Int]
            switch s.kernel {
            case .unary, .unaryGrad, .binary, .fused: candidates = s.args
            case .matmulAccumulate: candidates = Array(s.args.dropFirst(2))
            default: return nil
            }
            candidates = candidates.filter { a in
                root[a] == a && offsets[a] != nil && end[a] == k && def[a] < k && p.slotShapes[a] == p.slotShapes[s.out]
                    && s.args.allSatisfy { $0 == a || root[$0] != a }
            }
            return candidates.first
        }
        for (k, s) in p.steps.enumerated() {
            if case .reshape = s.kernel { continue }
            let slot = s.out
            guard !escapes.contains(slot), def[slot] == k else { continue }
            live.removeAll { $0.end < k }
            let size = sizeOf(slot)
            if let a = donor(s, k), let off = offsets[a], sizeOf(a) == size,
               let e = live.firstIndex(where: { $0.offset == off && $0.size == size }) {
                offsets[slot] = off
                live[e].end = max(end[slot], k)
                inPlace[slot] = a
                continue
            }
            var offset = 0
            for b in live.sorted(by: { $0.offset < $1.offset }) {
                if offset + size <= b.offset { break }
                offset = max(offset, b.offset + b.size)
            }
            offsets[slot] = offset
            live.append((offset, size, max(end[slot], k)))
            arena = max(arena, offset + size)
        }
        p.arenaOffsets = offsets
        p.arenaBytes = arena
        p.inPlace = inPlace
    }
}
