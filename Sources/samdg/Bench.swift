import ArgumentParser
import Foundation
import Graph
import Kernels
import Models
import Runtime
import Tensor
import Train

/// `samdg bench WORKLOAD`: times a model workload (median, min, max over repeats after warm-up).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a model workload: median and min/max over repeats after warm-up.",
        discussion: "Workloads: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")).")

    enum Workload: String, CaseIterable, ExpressibleByArgument {
        case samViTBEncoder = "sam-vit-b-encoder"
        case liteMedSAMEncoder = "litemedsam-encoder"
        case samDecoderTrainStep = "sam-decoder-train-step"
        case deepLabR50TrainStep = "deeplabv3-r50-train-step"
        case deepLabR18TrainStep = "deeplabv3-r18-train-step"
    }

    @Argument(help: "Workload name") var workload: Workload
    @Option(help: "Timed repeats") var repeats = 5
    @Option(help: "Warm-up runs") var warmup = 1
    @Option(help: "Worker threads") var threads = 2
    @Flag(help: "Print JSON instead of text") var json = false

    func run() throws {
        Parallel.configure(threads: threads)
        let t0 = Date()
        let w = try WorkloadBuilder(fuse: true).prepare(workload)
        let (step, flops, what) = (w.step, w.flops, w.what)
        let setup = Date().timeIntervalSince(t0)
        for _ in 0..<warmup { try step() }
        var times: [Double] = []
        for _ in 0..<repeats {
            let s = Date(); try step(); times.append(Date().timeIntervalSince(s))
        }
        times.sort()
        let median = times[times.count / 2]
        let rss = peakRSSMiB()
        if json {
            let obj: [String: Any] = ["workload": workload.rawValue, "what": what, "threads": threads, "median_s": median,
                                      "min_s": times.first!, "max_s": times.last!, "repeats": repeats, "setup_s": setup,
                                      "gflops": flops / median / 1e9, "peak_rss_mib": rss]
            print(String(data: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), encoding: .utf8)!)
        } else {
            print("\(workload.rawValue): \(what)")
            print(String(format: "median %.3f s  (min %.3f, max %.3f; %d repeats, %d warm-up, %d threads)  %.1f GFLOP/s  peak RSS %.0f MiB  setup %.1f s",
                         median, times.first!, times.last!, repeats, warmup, threads, flops / median / 1e9, rss, setup))
        }
    }

    func peakRSSMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return (Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0") ?? 0) / 1024
    }
}

