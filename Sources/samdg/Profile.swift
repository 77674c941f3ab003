import ArgumentParser
import Foundation
import Kernels
import Runtime
import Tensor

/// `samdg profile WORKLOAD`: where the time goes, per fused kernel.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a workload with per-kernel timing: ops fused, calls, time, share, GFLOP/s, bytes moved; totals and memory.")

    @Argument(help: "Workload: \(Bench.Workload.allCases.map(\.rawValue).joined(separator: ", "))") var workload: Bench.Workload
    @Flag(help: "Run the unfused plan, for comparison") var noFuse = false
    @Option(help: "Profiled runs (after one warm-up)") var repeats = 1
    @Option(help: "Rows to print") var top = 25
    @Option(help: "Worker threads") var threads = 2
    @Flag(help: "Print JSON") var json = false

    func run() throws {
        if noFuse { setenv("SAMDG_NO_FUSE", "1", 1) }
        Parallel.configure(threads: threads)
        var b = Bench(); b.workload = workload
        let w = try b.prepare()
        try w.step()                                   // warm-up (allocations, first touches)
        let ex = w.session.executor
        ex.profiling = true
        let t0 = Date()
        for _ in 0..<repeats { try w.step() }
        let wall = Date().timeIntervalSince(t0) / Double(repeats)
        let plan = ex.plan
        struct Row { var kernel: String; var calls = 0; var time = 0.0; var flops = 0.0; var bytes = 0.0 }
        var rows: [String: Row] = [:]
        for (i, s) in plan.steps.enumerated() {
            let key = "\(s.kernel)"
            var r = rows[key] ?? Row(kernel: key)
            r.calls += ex.stepCalls[i] / max(repeats, 1)
            r.time += ex.stepTimes[i] / Double(repeats)
            r.flops += plan.flops(i)
            r.bytes += plan.bytesMoved(i)
            rows[key] = r
        }
        let sorted = rows.values.sorted { $0.time > $1.time }
        let total = sorted.reduce(0) { $0 + $1.time }
        let mem = plan.memory
        if json {
            let obj: [String: Any] = [
                "workload": workload.rawValue, "fused": !noFuse, "wall_s": wall, "kernel_total_s": total,
                "steps": plan.steps.count, "gflop": plan.totalFLOPs / 1e9,
                "memory": ["naive_bytes": mem.naive, "liveness_peak_bytes": mem.peak, "arena_bytes": plan.arenaBytes],
                "kernels": sorted.map { ["kernel": $0.kernel, "calls": $0.calls, "seconds": $0.time,
                                         "gflops": $0.time > 0 ? $0.flops / $0.time / 1e9 : 0, "bytes": $0.bytes] },
            ]
            print(String(data: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), encoding: .utf8)!)
            return
        }
        print("\(workload.rawValue) (\(noFuse ? "unfused" : "fused")): \(w.what)")
        print("   time      %   calls   GFLOP/s   GB moved  kernel")
        for r in sorted.prefix(top) {
            print(String(format: "%7.3fs %5.1f%% %7d %9.1f %10.3f  ", r.time, 100 * r.time / max(total, 1e-12), r.calls,
                         r.time > 0 ? r.flops / r.time / 1e9 : 0, r.bytes / 1e9) + r.kernel)
        }
        if sorted.count > top { print("   … \(sorted.count - top) more kernels") }
        print(String(format: "kernels %.3f s of %.3f s measured per run (%.1f%%); %d steps; %.1f GFLOP (%.1f GFLOP/s)",
                     total, wall, 100 * total / max(wall, 1e-12), plan.steps.count, plan.totalFLOPs / 1e9, plan.totalFLOPs / wall / 1e9))
        print(String(format: "memory: arena %.1f MiB (liveness bound %.1f MiB) vs naive %.1f MiB (%.2f×)",
                     Double(plan.arenaBytes) / 1048576, Double(mem.peak) / 1048576, Double(mem.naive) / 1048576,
                     Double(plan.arenaBytes) / Double(max(mem.naive, 1))))
    }
}
