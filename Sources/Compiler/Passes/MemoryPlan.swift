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
/// free from step k + 1 on (no in-place reuse yet).
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
        for (k, s) in p.steps.enumerated() {
            if case .reshape = s.kernel { continue }
            let slot = s.out
            guard !escapes.contains(slot), def[slot] == k else { continue }
            live.removeAll { $0.end < k }
            let size = (ShapeMath.count(p.slotShapes[slot]) * 4 + 63) / 64 * 64
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
    }
}
