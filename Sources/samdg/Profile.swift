import ArgumentParser
import Foundation
import Kernels
import Runtime
import Tensor
import Models
import Graph

/// `samdg profile WORKLOAD`: where the time goes, per fused kernel.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a workload with per-kernel timing: ops fused, calls, time, share, GFLOP/s, bytes moved; totals and memory.")

    @Argument(help: ArgumentHelp("A bench workload (\(Bench.Workload.allCases.map(\.rawValue).joined(separator: ", "))), a model (\(ProfileModel.allCases.map(\.rawValue).joined(separator: ", "))) or a serialised graph file", valueName: "MODEL|GRAPH"))
    var target: String
    @Flag(help: "Profile a training step (gradients and an Adam update) instead of a forward pass") var train = false
    @Option(help: "Batch size (models)") var batch: Int?
    @Option(help: "Image size (models)") var size: Int?
    @Flag(help: "Run the unfused plan, for comparison") var noFuse = false
    @Option(help: "Profiled runs (after one warm-up)") var repeats = 1
    @Option(help: "Rows to print") var top = 25
    @Option(help: "Also print the N slowest plan steps (shapes and graph origin), to stderr") var steps = 0
    @Option(help: "Worker threads") var threads = 2
    @Flag(help: "Print JSON") var json = false
    @Flag(name: .customLong("min"), help: "Time each step by its fastest run instead of the mean (steadier on a loaded machine)") var fastest = false
    @Flag(help: "Also print the compiled plan, one step per line (kernel, operand and result slots, shape, origin)") var plan = false

    func run() throws {
        Parallel.configure(threads: threads)
        let w = try prepareTarget()
        try w.step()                                   // warm-up (allocations, first touches)
        let ex = w.session.executor
        ex.profiling = true
        let t0 = Date()
        for _ in 0..<repeats { try w.step() }
        let wall = Date().timeIntervalSince(t0) / Double(repeats)
        // the same runs without per-step timing, as `samdg bench` times them: the profile's
        // totals are checked against this
        ex.profiling = false
        var plain: [Double] = []
        for _ in 0..<max(repeats, 1) { let s = Date(); try w.step(); plain.append(Date().timeIntervalSince(s)) }
        let unprofiled = plain.sorted()[plain.count / 2]
        let plan = ex.plan
        if self.plan { print(plan.description) }
        if steps > 0 { FileHandle.standardError.write(ex.profileReport(top: steps).data(using: .utf8)!) }
        struct Row { var kernel: String; var calls = 0; var time = 0.0; var flops = 0.0; var bytes = 0.0 }
        var rows: [String: Row] = [:]
        for (i, s) in plan.steps.enumerated() {
            let key = "\(s.kernel)"
            var r = rows[key] ?? Row(kernel: key)
            r.calls += ex.stepCalls[i] / max(repeats, 1)
            r.time += fastest ? (ex.stepMin[i].isFinite ? ex.stepMin[i] : 0) : ex.stepTimes[i] / Double(repeats)
            r.flops += plan.flops(i)
            r.bytes += plan.bytesMoved(i)
            rows[key] = r
        }
        let sorted = rows.values.sorted { $0.time > $1.time }
        let total = sorted.reduce(0) { $0 + $1.time }
        let mem = plan.memory
        if json {
            let obj: [String: Any] = [
                "target": target, "fused": !noFuse, "wall_s": wall, "kernel_total_s": total, "unprofiled_median_s": unprofiled,
                "steps": plan.steps.count, "gflop": plan.totalFLOPs / 1e9,
                "memory": ["naive_bytes": mem.naive, "live_peak_with_outputs_bytes": mem.peak, "arena_bytes": plan.arenaBytes],
                "kernels": sorted.map { ["kernel": $0.kernel, "calls": $0.calls, "seconds": $0.time,
                                         "gflops": $0.time > 0 ? $0.flops / $0.time / 1e9 : 0, "bytes": $0.bytes] },
            ]
            print(String(data: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), encoding: .utf8)!)
            return
        }
        print("\(target) (\(noFuse ? "unfused" : "fused")): \(w.what)")
        print("   time      %   calls   GFLOP/s   GB moved  kernel")
        for r in sorted.prefix(top) {
            print(String(format: "%7.3fs %5.1f%% %7d %9.1f %10.3f  ", r.time, 100 * r.time / max(total, 1e-12), r.calls,
                         r.time > 0 ? r.flops / r.time / 1e9 : 0, r.bytes / 1e9) + r.kernel)
        }
        if sorted.count > top { print("   … \(sorted.count - top) more kernels") }
        print(String(format: "kernels %.3f s of %.3f s measured per run (%.1f%%); %d steps; %.1f GFLOP (%.1f GFLOP/s)",
                     total, wall, 100 * total / max(wall, 1e-12), plan.steps.count, plan.totalFLOPs / 1e9, plan.totalFLOPs / wall / 1e9))
        print(String(format: "unprofiled: median %.3f s per run over %d runs; the kernel total is %.1f%% of it",
                     unprofiled, plain.count, 100 * total / max(unprofiled, 1e-12)))
        print(String(format: "memory: arena %.1f MiB (all results incl. outputs live at once at most %.1f MiB) vs naive %.1f MiB (%.2f×)",
                     Double(plan.arenaBytes) / 1048576, Double(mem.peak) / 1048576, Double(mem.naive) / 1048576,
                     Double(plan.arenaBytes) / Double(max(mem.naive, 1))))
    }
}

/// Models `samdg profile` builds by name (forward, or a training step with `--train`).
enum ProfileModel: String, CaseIterable {
    case vitB = "vit-b", liteMedSAM = "litemedsam", samDecoder = "sam-decoder"
    case deepLabR50 = "deeplabv3-r50", deepLabR34 = "deeplabv3-r34", deepLabR18 = "deeplabv3-r18"
}

extension Profile {
    func prepareTarget() throws -> Prepared {
        if let w = Bench.Workload(rawValue: target) {
            return try WorkloadBuilder(fuse: !noFuse).prepare(w)
        }
        let b = WorkloadBuilder(fuse: !noFuse)
        if let m = ProfileModel(rawValue: target) {
            switch m {
            case .vitB:
                let s = size ?? 1024
                var cfg = ImageEncoderViTConfig.vitB; cfg.imageSize = s
                return try b.encoder(size: s, batch: batch ?? 1, train: train, what: "SAM ViT-B image encoder, \(batch ?? 1)×3×\(s)²") { mb, x in
                    try mb.scope("image_encoder") { try mb.imageEncoderViT(x, cfg) }
                }
            case .liteMedSAM:
                let s = size ?? 256
                var cfg = TinyViTConfig.liteMedSAM; cfg.imageSize = s
                return try b.encoder(size: s, batch: batch ?? 1, train: train, what: "LiteMedSAM TinyViT encoder, \(batch ?? 1)×3×\(s)²") { mb, x in
                    try mb.scope("image_encoder") { try mb.tinyViT(x, cfg) }
                }
            case .samDecoder:
                return try b.decoderStep()
            case .deepLabR50, .deepLabR34, .deepLabR18:
                let bb: ResNetConfig = m == .deepLabR50 ? .resnet50(outputStride: 8) : (m == .deepLabR34 ? .resnet34(outputStride: 8) : .resnet18(outputStride: 8))
                return try b.deepLabStep(DeepLabV3Config(backbone: bb), batch: batch ?? 2, size: size ?? 256, train: train)
            }
        }
        guard FileManager.default.fileExists(atPath: target) else {
            throw ValidationError("\(target): not a workload, a model (\(ProfileModel.allCases.map(\.rawValue).joined(separator: ", "))) or a graph file")
        }
        return try b.graphFile(target, train: train)
    }
}
