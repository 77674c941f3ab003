import Kernels
import Runtime
import Tensor

/// Scheduling for low peak memory (Plan steps → a topological order).
///
/// Algorithm: greedy list scheduling. A step is ready when every slot it reads has been written.
/// Among the ready steps it runs the one with the smallest net allocation — bytes of its result
/// (none for a reshape view) minus bytes of the buffers it reads for the last time — breaking
/// ties by the original position, so neutral stretches keep the builder's order (and its cache
/// locality). Buffers follow reshape views to the buffer they alias; outputs and bindings are
/// never freed. The new order is kept only when its live peak (`Plan.memory`) is lower than the
/// original's: the greedy choice is a heuristic, never a regression.
///
/// ```
///   a = big(x)  b = small(x)  c = use(a)  d = use(b)      in order: a, b live together
///   ⇒  a, c, b, d                                          a dies before b is made
/// ```
enum Scheduler {
    static func lowPeakOrder(_ p: Plan) -> [Plan.Step] {
        let steps = p.steps, n = steps.count
        guard n > 2 else { return steps }
        let slots = p.slotShapes.count
        var root = Array(0..<slots), producer = [Int](repeating: -1, count: slots)
        for (k, s) in steps.enumerated() {
            producer[s.out] = k
            if case .reshape = s.kernel { root[s.out] = root[s.args[0]] }
        }
        var keep = Set(p.outputs.map { root[$0.slot] })
        for (_, slot) in p.bindings { keep.insert(slot) }
        let bytes = p.slotShapes.map { 4 * ShapeMath.count($0) }
        // readers still to run, per buffer (reshape steps read nothing: their views' readers count)
        var pending = [Int](repeating: 0, count: slots)
        var waiting = [Int](repeating: 0, count: n)               // unproduced operand slots per step
        var readers = [[Int]](repeating: [], count: slots)
        for (k, s) in steps.enumerated() {
            let isView: Bool = { if case .reshape = s.kernel { return true }; return false }()
            for a in Set(s.args) {
                if !isView { pending[root[a]] += s.args.filter { $0 == a }.count }
                if producer[a] >= 0 { waiting[k] += 1; readers[a].append(k) }
            }
        }
        var ready = Set((0..<n).filter { waiting[$0] == 0 })
        var order: [Int] = []
        order.reserveCapacity(n)
        func net(_ k: Int) -> Int {
            let s = steps[k]
            if case .reshape = s.kernel { return 0 }
            var freed = 0, seen = Set<Int>()
            for a in s.args where seen.insert(root[a]).inserted {
                let r = root[a]
                if !keep.contains(r), pending[r] == s.args.filter({ root[$0] == r }).count { freed += bytes[r] }
            }
            return bytes[s.out] - freed
        }
        while let k = ready.min(by: { (net($0), $0) < (net($1), $1) }) {
            ready.remove(k)
            order.append(k)
            let s = steps[k]
            if case .reshape = s.kernel {} else { for a in s.args { pending[root[a]] -= 1 } }
            for r in readers[s.out] {
                waiting[r] -= 1
                if waiting[r] == 0 { ready.insert(r) }
            }
        }
        guard order.count == n else { return steps }      // a cycle cannot happen; keep the original if it did
        return order.map { steps[$0] }
    }
}
