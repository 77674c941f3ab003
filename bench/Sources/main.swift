// samdg-bench: engine kernels against in-run baselines (ratios, not absolute times).
//
//   matmul   engine plan (Graph → Plan → Executor → cblas_sgemm) vs raw cblas_sgemm, 1024³ and 2048³
//   attention  fused attention (SAM ViT-B global block: 12 heads, 4096 tokens, dim 64, rel-pos bias;
//            windowed block: 25 windows × 12 heads of 14×14 tokens)
//            vs raw cblas_sgemm of its two products q·kᵀ and P·v alone (no softmax at all);
//            *_qkv: the strided kernel as the model runs it (q, k, v read in place from the qkv
//            projection, rel-pos bias from its tables)
//   window attention  LiteMedSAM's windowed attention (7×7 and 14×14 windows on 64² tokens) as
//            `window_attention` runs it vs raw cblas_sgemm of its two products per window and head
//   relu/add SIMD elementwise kernels through the engine vs a plain memory copy of the same bytes
//   conv+bn+gelu  1×1 conv 64→256 on 256² with eval BatchNorm and GELU (TinyViT's MBConv expand):
//            the folded plan vs the unfused plan vs raw cblas_sgemm of the conv alone
//   mbconv   TinyViT's first-stage MBConv block on 256² as one conv-chain step vs three folded convs
//
// Usage: samdg-bench [--threads N] [--json PATH]
import CBLAS
import CSIMD
import Compiler
import Foundation
import Graph
import Kernels
import Primitives
import Runtime
import Tensor

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Median seconds of `body` over `repeats` runs after `warmup` runs.
func timeit(warmup: Int = 2, repeats: Int = 7, _ body: () throws -> Void) rethrows -> (median: Double, min: Double, max: Double) {
    for _ in 0..<warmup { try body() }
    var ts: [Double] = []
    for _ in 0..<repeats { let t0 = now(); try body(); ts.append(now() - t0) }
    ts.sort()
    return (ts[ts.count / 2], ts.first!, ts.last!)
}

var threads = 2
var jsonPath: String? = nil
var only: String? = nil
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--threads": threads = Int(it.next() ?? "2") ?? 2
    case "--json": jsonPath = it.next()
    case "--only": only = it.next()
    default: FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!); exit(2)
    }
}
Parallel.configure(threads: threads)

/// Baselines call OpenBLAS as shipped, with its own `threads` threads (the engine keeps it
/// single-threaded and splits products over its own pool; see `Parallel`). OpenBLAS's workers
/// busy-wait ~0.1 s after a threaded call, so each baseline is timed apart from the engine and
/// followed by a pause that lets them park before the engine runs.
func rawBLAS<T>(_ body: () throws -> T) rethrows -> T {
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1); usleep(300_000) }
    return try body()
}

var results: [[String: Any]] = []
func random(_ shape: [Int]) -> Tensor {
    var s: UInt64 = 12345
    return Tensor(shape: shape, (0..<ShapeMath.count(shape)).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: s >> 11) % 2000) / 1000 - 1
    })
}

print("samdg-bench: \(threads) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores")
func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
print(pad("workload", 24) + pad("engine", 15) + pad("baseline", 15) + "ratio")

if only == "gelu" {
    // GELU (erf) in an L1-resident loop: ns per 16 values, and its max abs error against Double on a dense grid
    let n = 4096
    let xs = (0..<n).map { Float($0) / Float(n) * 16 - 8 }
    var ys = [Float](repeating: 0, count: n)
    var err = 0.0
    xs.withUnsafeBufferPointer { xp in ys.withUnsafeMutableBufferPointer { yp in
        UnaryKernels.apply(.geluErf, xp.baseAddress!, yp.baseAddress!, count: n)
    } }
    for i in 0..<n { err = max(err, abs(Double(ys[i]) - UnaryFn.geluErf.reference(Double(xs[i])))) }
    let reps = 20000
    let t = timeit(warmup: 1, repeats: 5) {
        xs.withUnsafeBufferPointer { xp in ys.withUnsafeMutableBufferPointer { yp in
            for _ in 0..<reps { UnaryKernels.geluRow(xp.baseAddress!, yp.baseAddress!, n) }
        } }
    }
    print(String(format: "gelu: %.2f ns per 16 values, max abs error %.3g", t.median / Double(reps * n / 16) * 1e9, err))
    exit(0)
}
if only == nil || only == "linear" {
    // LiteMedSAM's linear layers (tokens × out × in): the packed-weight kernel (PackedGemm, A read in
    // place, the GELU on each tile) against the engine's sgemm path (one OpenBLAS slab per core) and
    // a separate GELU pass
    for (m, n, k, gelu) in [(4096, 1280, 320, true), (4096, 320, 1280, false), (4096, 960, 320, false), (16384, 512, 128, true),
                            (16384, 128, 512, false), (4096, 640, 160, true), (4096, 160, 640, false), (4096, 480, 160, false),
                            (65536, 256, 64, true), (65536, 64, 256, false)] {
        guard PackedGemm.applies(m: m, n: n, k: k) else { print("linear \(m)x\(n)x\(k): packed path not available"); continue }
        // as a linear layer runs in a plan: A fresh from the previous step, C = f(A·Wᵀ + bias);
        // the baseline fills C with the bias, runs sgemm with beta = 1, then f in a pass of its own.
        // Buffers rotate over `sets` copies (together beyond the L3), so no call finds its operands cached.
        let sets = max(2, (96 << 20) / (4 * (m * k + m * n)))
        let as_ = (0..<sets).map { _ in random([m, k]) }, w = random([n, k]), bias = random([n])
        let c1s = (0..<sets).map { _ in Tensor(zeros: [m, n]) }, c2s = (0..<sets).map { _ in Tensor(zeros: [m, n]) }
        let c1 = c1s[0], c2 = c2s[0]
        let f: UnaryFn? = gelu ? .geluErf : nil
        func fill(_ c: Tensor) { Parallel.forChunks(m) { r in for i in r { (c.ptr + i * n).update(from: bias.ptr, count: n) } } }
        var turn = 0
        let base = timeit(warmup: 1, repeats: 3 * sets) {
            let a = as_[turn % sets], c = c1s[turn % sets]; turn += 1
            fill(c)
            PackedGemm.withDisabled {
                Gemm.sgemm(transA: false, transB: true, m: m, n: n, k: k, a: a.ptr, lda: k, b: w.ptr, ldb: k, beta: 1, c: c.ptr, ldc: n)
            }
            if let f { UnaryKernels.apply(f, c.ptr, c.ptr, count: m * n) }
        }
        turn = 0
        let eng = timeit(warmup: 1, repeats: 3 * sets) {
            let a = as_[turn % sets], c = c2s[turn % sets]; turn += 1
            PackedGemm.run(m: m, n: n, k: k, a: a.ptr, lda: k, b: w.ptr, ldb: k, c: c.ptr, ldc: n, accumulate: false,
                           addend: .init(bias: bias.ptr, residual: nil, ldr: n), activation: f)
        }
        var diff: Float = 0
        for i in 0..<(m * n) { diff = max(diff, abs(c1.ptr[i] - c2.ptr[i])) }
        let fl = 2.0 * Double(m * n * k)
        let ge = fl / eng.median / 1e9, gb = fl / base.median / 1e9
        print(pad("linear \(m)x\(n)x\(k)\(gelu ? "+gelu" : "")", 24)
              + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%  (max diff %.2g)", ge, gb, 100 * ge / gb, diff))
        results.append(["workload": "linear_\(m)x\(n)x\(k)\(gelu ? "_gelu" : "")", "engine_gflops": ge, "sgemm_gflops": gb, "ratio": ge / gb])
    }
}
if only == "linear" { exit(0) }

for n in [1024, 2048] where only == nil {
    let a = random([n, n]), b = random([n, n])
    let g = Graph()
    g.output("y", try g.matmul(g.input("a", [n, n]), g.input("b", [n, n])))
    let ex = Executor(try Compiler.compile(g))
    let c = Tensor(zeros: [n, n])
    let flops = 2.0 * Double(n * n * n)
    let raw = rawBLAS { timeit {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a.ptr, Int32(n),
                    b.ptr, Int32(n), 0, c.ptr, Int32(n))
    } }
    let eng = try timeit { _ = try ex.run(["a": a, "b": b]) }
    let ge = flops / eng.median / 1e9, gr = flops / raw.median / 1e9
    print(pad("matmul \(n)³", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%", ge, gr, 100 * ge / gr))
    results.append(["workload": "matmul_\(n)", "engine_gflops": ge, "sgemm_gflops": gr, "ratio": ge / gr])
}

for (bh, n, d, side, label) in [(12, 4096, 64, 64, "global"), (300, 196, 64, 14, "windowed")] where only == nil {
    let g = Graph()
    let q = g.input("q", [bh, n, d]), k = g.input("k", [bh, n, d]), v = g.input("v", [bh, n, d])
    let rh = g.input("rh", [bh, n, side]), rw = g.input("rw", [bh, n, side])
    g.output("y", try g.attention(q: q, k: k, v: v, relH: rh, relW: rw, scale: 0.125))
    let ex = Executor(try Compiler.compile(g))
    let bind = ["q": random([bh, n, d]), "k": random([bh, n, d]), "v": random([bh, n, d]),
                "rh": random([bh, n, side]), "rw": random([bh, n, side])]
    let s = Tensor(zeros: [n, n]), o = Tensor(zeros: [n, d])
    let flops = 4.0 * Double(bh * n * n * d)
    let raw = rawBLAS { timeit(warmup: 1, repeats: 3) {
        for h in 0..<bh {
            let qp = bind["q"]!.ptr + h * n * d, kp = bind["k"]!.ptr + h * n * d, vp = bind["v"]!.ptr + h * n * d
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 0.125, qp, Int32(d),
                        kp, Int32(d), 0, s.ptr, Int32(n))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n), 1, s.ptr, Int32(n),
                        vp, Int32(d), 0, o.ptr, Int32(d))
        }
    } }
    let eng = try timeit(warmup: 1, repeats: 3) { _ = try ex.run(bind) }
    let ge = flops / eng.median / 1e9, gr = flops / raw.median / 1e9
    print(pad("attention \(bh)×\(n)²×\(d)", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%", ge, gr, 100 * ge / gr))
    results.append(["workload": "attention_vitb_\(label)", "engine_gflops": ge, "sgemm_gflops": gr, "ratio": ge / gr])
}

// SAM decoder attention heads: 7 tokens × 4096 image tokens, 8 heads of 16, 4 boxes; the head
// split / merge permutes read and written by strides. Baseline: one sgemm per (box, head) on
// contiguous copies (the permutes not counted).
do {
    let (b, h, n, m, d) = (4, 8, 7, 4096, 16)
    let g = Graph()
    let q = g.input("q", [b, n, h * d]), k = g.input("k", [b, m, h * d])
    let qh = try g.permute(g.reshape(q, [b, n, h, d]), [0, 2, 1, 3]), kh = try g.permute(g.reshape(k, [b, m, h, d]), [0, 2, 1, 3])
    g.output("s", try g.matmul(qh, kh, transposeB: true))          // [b, h, n, m]
    g.output("t", try g.matmul(kh, qh, transposeB: true))          // [b, h, m, n]
    let ex = Executor(try Compiler.compile(g))
    let bind = ["q": random([b, n, h * d]), "k": random([b, m, h * d])]
    let qc = random([b * h, n, d]), kc = random([b * h, m, d]), sc = Tensor(zeros: [b * h, n, m]), tc = Tensor(zeros: [b * h, m, n])
    let flops = 2.0 * 2.0 * Double(b * h * n * m * d)
    var te: [Double] = [], tr: [Double] = []
    for _ in 0..<9 { let t0 = now(); _ = try ex.run(bind); te.append(now() - t0) }
    rawBLAS { for _ in 0..<9 {
        let t0 = now()
        for i in 0..<(b * h) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(d), 1, qc.ptr + i * n * d, Int32(d),
                        kc.ptr + i * m * d, Int32(d), 0, sc.ptr + i * n * m, Int32(m))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(d), 1, kc.ptr + i * m * d, Int32(d),
                        qc.ptr + i * n * d, Int32(d), 0, tc.ptr + i * m * n, Int32(n))
        }
        tr.append(now() - t0)
    } }
    let ge = flops / te.dropFirst().min()! / 1e9, gr = flops / tr.dropFirst().min()! / 1e9
    print(pad("decoder heads 7×4096×16", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%  (%.2f ms vs %.2f ms)", ge, gr, 100 * ge / gr,
                                                   te.dropFirst().min()! * 1e3, tr.dropFirst().min()! * 1e3))
    results.append(["workload": "decoder_attention_heads", "engine_gflops": ge, "sgemm_gflops": gr, "ratio": ge / gr])
}

// The same blocks as the model runs them: q, k, v read in place from the qkv projection
// [B, N, 3, heads, 64], the rel-pos bias computed from its tables, the result written heads-merged.
for (b, heads, side, label) in [(1, 12, 64, "global_qkv"), (25, 12, 14, "windowed_qkv")] where only == nil {
    let n = side * side, d = 64, dim = heads * d, bh = b * heads
    let qkv = random([b, n, 3 * dim]), th = random([side, side, d]), tw = random([side, side, d])
    let out = Tensor(zeros: [b, n, dim])
    func layout(_ p: Int) -> AttentionOperandLayout {
        AttentionOperandLayout(offset: p * dim, batch: [.init(size: b, stride: n * 3 * dim), .init(size: heads, stride: d)], rowStride: 3 * dim)
    }
    let spec = AttentionSpec(batch: bh, n: n, m: n, d: d, dv: d, scale: 0.125, q: layout(0), k: layout(1), v: layout(2),
                             out: AttentionOperandLayout(offset: 0, batch: [.init(size: b, stride: n * dim), .init(size: heads, stride: d)],
                                                         rowStride: dim),
                             relGrid: [side, side])
    let s = Tensor(zeros: [n, n]), o = Tensor(zeros: [n, d]), q = random([bh, n, d])
    let flops = 4.0 * Double(bh * n * n * d)
    let raw = rawBLAS { timeit(warmup: 1, repeats: 3) {
        for h in 0..<bh {
            let qp = q.ptr + h * n * d
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 0.125, qp, Int32(d),
                        qp, Int32(d), 0, s.ptr, Int32(n))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n), 1, s.ptr, Int32(n),
                        qp, Int32(d), 0, o.ptr, Int32(d))
        }
    } }
    let eng = timeit(warmup: 1, repeats: 3) { AttentionKernel.forward(spec, q: qkv, k: qkv, v: qkv, relH: th, relW: tw, out) }
    let ge = flops / eng.median / 1e9, gr = flops / raw.median / 1e9
    print(pad("attention \(label)", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%", ge, gr, 100 * ge / gr))
    results.append(["workload": "attention_vitb_\(label)", "engine_gflops": ge, "sgemm_gflops": gr, "ratio": ge / gr])
}

for (label, side, heads, ws) in [("tinyvit 7x7", 64, 10, 7), ("tinyvit 14x14", 64, 5, 14)] where only == nil || only == "window" {
    // LiteMedSAM's windowed attention (stages 3 and 2: 64×64 tokens, head size 32, learned bias)
    // as `window_attention` runs it, against raw cblas_sgemm of its two products per window and
    // head on contiguous operands (no softmax, no bias, pad queries included)
    let d = 32, row = 3 * heads * d, n = ws * ws, windows = ((side + ws - 1) / ws) * ((side + ws - 1) / ws)
    let spec = WindowAttentionSpec(window: ws, heads: heads, d: d, dv: d, scale: 0.176_776_7, qOffset: 0, kOffset: d, vOffset: 2 * d,
                                   headStride: 3 * d)
    let qkv = random([1, side, side, row]), padRow = random([row]), bias = random([heads, n, n])
    let out = Tensor(zeros: [1, side, side, heads * d])
    let q = random([n, d]), s = Tensor(zeros: [n, n]), o = Tensor(zeros: [n, d])
    let raw = rawBLAS { timeit(warmup: 1, repeats: 5) {
        for _ in 0..<(windows * heads) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(d), 0.125, q.ptr, Int32(d),
                        q.ptr, Int32(d), 0, s.ptr, Int32(n))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(d), Int32(n), 1, s.ptr, Int32(n),
                        q.ptr, Int32(d), 0, o.ptr, Int32(d))
        }
    } }
    let eng = timeit(warmup: 1, repeats: Int(ProcessInfo.processInfo.environment["WREPS"] ?? "9")!) { AttentionKernel.windowForward(spec, qkv: qkv, padRow: padRow, bias: bias, out) }
    let ge = 4.0 * Double(side * side * heads * n * d) / eng.median / 1e9
    let gr = 4.0 * Double(windows * heads * n * n * d) / raw.median / 1e9
    print(pad("window attention \(label)", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%", ge, gr, 100 * ge / gr))
    results.append(["workload": "window_attention_\(label.replacingOccurrences(of: " ", with: "_"))", "engine_gflops": ge,
                    "sgemm_gflops": gr, "ratio": ge / gr])
}

if only == "window" { exit(0) }
let count = 1 << 24   // 64 MiB per operand: far beyond the caches, so both sides are memory-bound
let x = random([count]), y2 = random([count])
let dst = Tensor(zeros: [count])
// Baseline: a plain copy of the same bytes, split over the same worker threads as the kernels.
let copy = timeit(repeats: 9) {
    Parallel.forChunks(count) { r in (dst.ptr + r.lowerBound).update(from: x.ptr + r.lowerBound, count: r.count) }
}
let copyGBs = Double(2 * count * 4) / copy.median / 1e9   // read + write
for (name, build, bytes) in [
    ("relu (1 in, 1 out)", { (g: Graph) throws -> Value in try g.relu(g.input("x", [count])) }, 2 * count * 4),
    ("add (2 in, 1 out)", { (g: Graph) throws -> Value in try g.add(g.input("x", [count]), g.input("y", [count])) }, 3 * count * 4),
] as [(String, (Graph) throws -> Value, Int)] {
    let g = Graph()
    g.output("out", try build(g))
    let ex = Executor(try Compiler.compile(g))
    var bind = ["x": x]
    if g.inputValue("y") != nil { bind["y"] = y2 }
    let t = try timeit(repeats: 9) { _ = try ex.run(bind) }
    let gbs = Double(bytes) / t.median / 1e9
    print(pad(name, 24) + String(format: "%7.1f GB/s   %7.1f GB/s   %5.1f%%", gbs, copyGBs, 100 * gbs / copyGBs))
    results.append(["workload": name, "engine_GBps": gbs, "memcpy_GBps": copyGBs, "ratio": gbs / copyGBs])
}

do {
    let (cin, cout, side) = (64, 256, 256)
    let g = Graph()
    let xv = g.input("x", [1, cin, side, side]), wv = g.input("w", [cout, cin, 1, 1])
    let p = ["g", "b", "rm", "rv"].map { g.input($0, [cout]) }
    let bn = try g.batchNormEval(g.conv2d(xv, wv), weight: p[0], bias: p[1], runningMean: p[2], runningVar: p[3])
    g.output("y", try g.gelu(bn))
    let bind = ["x": random([1, cin, side, side]), "w": random([cout, cin, 1, 1]), "g": random([cout]), "b": random([cout]),
                "rm": random([cout]), "rv": Tensor(shape: [cout], [Float](repeating: 1, count: cout))]
    let folded = Executor(try Compiler.compile(g)), plain = Executor(try Compiler.compile(g, fuse: false))
    let c = Tensor(zeros: [cout, side * side])
    let flops = 2.0 * Double(cin * cout * side * side)
    // the two plans interleaved, so load from other processes hits both alike; minimum of each
    var tf: [Double] = [], tp: [Double] = [], tr: [Double] = []
    for _ in 0..<9 {
        var t0 = now(); _ = try folded.run(bind); tf.append(now() - t0)
        t0 = now(); _ = try plain.run(bind); tp.append(now() - t0)
    }
    rawBLAS { for _ in 0..<9 {
        let t0 = now()
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(cout), Int32(side * side), Int32(cin), 1, bind["w"]!.ptr, Int32(cin),
                    bind["x"]!.ptr, Int32(side * side), 0, c.ptr, Int32(side * side))
        tr.append(now() - t0)
    } }
    let gf = flops / tf.dropFirst().min()! / 1e9, gp = flops / tp.dropFirst().min()! / 1e9, gr = flops / tr.dropFirst().min()! / 1e9
    print(pad("conv+bn+gelu folded", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%  (vs sgemm alone)", gf, gr, 100 * gf / gr))
    print(pad("conv+bn+gelu unfused", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   %5.1f%%  (folded / unfused: %.2f×)", gp, gr, 100 * gp / gr, gf / gp))
    results.append(["workload": "conv1x1_bn_gelu", "engine_gflops": gf, "unfused_gflops": gp, "sgemm_gflops": gr, "ratio": gf / gr])
}

do {
    // TinyViT's first-stage MBConv in LiteMedSAM: 1×1 64→256 · BN · GELU → depthwise 3×3 · BN · GELU
    // → 1×1 256→64 · BN + x · GELU on 256², as one conv-chain step vs the three folded convs
    let (cin, e, side) = (64, 256, 256)
    let g = Graph()
    let xv = g.input("x", [1, cin, side, side])
    func bn(_ y: Value, _ c: Int, _ n: String) throws -> Value {
        let p = ["g", "b", "rm", "rv"].map { g.input(n + $0, [c]) }
        return try g.batchNormEval(y, weight: p[0], bias: p[1], runningMean: p[2], runningVar: p[3])
    }
    let t1 = try g.gelu(bn(g.conv2d(xv, g.input("w1", [e, cin, 1, 1])), e, "1"))
    let t2 = try g.gelu(bn(g.conv2d(t1, g.input("w2", [e, 1, 3, 3]), nil, ConvGeometry(padding: 1, groups: e)), e, "2"))
    g.output("y", try g.gelu(g.add(bn(g.conv2d(t2, g.input("w3", [cin, e, 1, 1])), cin, "3"), xv)))
    var bind = ["x": random([1, cin, side, side]), "w1": random([e, cin, 1, 1]), "w2": random([e, 1, 3, 3]), "w3": random([cin, e, 1, 1])]
    for (n, c) in [("1", e), ("2", e), ("3", cin)] {
        for k in ["g", "b", "rm"] { bind[n + k] = random([c]) }
        bind[n + "rv"] = Tensor(shape: [c], [Float](repeating: 1, count: c))
    }
    let chain = Executor(try Compiler.compileUncached(g)), steps = Executor(try Compiler.compileUncached(g, skip: ["conv-chain"]))
    let flops = 2.0 * Double(side * side) * Double(2 * cin * e + 9 * e)
    var tc: [Double] = [], ts: [Double] = []
    for _ in 0..<9 {
        var t0 = now(); _ = try chain.run(bind); tc.append(now() - t0)
        t0 = now(); _ = try steps.run(bind); ts.append(now() - t0)
    }
    let gc = flops / tc.dropFirst().min()! / 1e9, gs = flops / ts.dropFirst().min()! / 1e9
    print(pad("mbconv conv-chain", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   (chain / three folded convs: %.2f×)", gc, gs, gc / gs))
    results.append(["workload": "mbconv_chain", "engine_gflops": gc, "unchained_gflops": gs, "ratio": gc / gs])
}

for (n, c, k, side, dil, label) in [(8, 256, 256, 32, 2, "r18 layer3 d2"), (8, 64, 64, 64, 1, "r18 layer1")] {
    // DeepLab-R18's 3×3 convolutions (the R18 train step's shapes): Winograd F(2×2,3×3) against
    // im2col + sgemm, forward, input gradient and weight gradient, interleaved; minimum of each
    let g = ConvGeometry(padding: dil, dilation: dil)
    let x = random([n, c, side, side]), w = random([k, c, 3, 3]), y = Tensor(zeros: [n, k, side, side])
    let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape)
    let flops = 2.0 * Double(n * k * c * 9 * side * side)
    var times = [[Double]](repeating: [], count: 6)
    for _ in 0..<5 {
        for (i, wino) in [true, false].enumerated() {
            var t0 = now(); ConvKernels.forward(x, w, g, y, winograd: wino); times[3 * i].append(now() - t0)
            t0 = now(); ConvKernels.backwardInput(y, w, g, dx, winograd: wino); times[3 * i + 1].append(now() - t0)
            t0 = now(); ConvKernels.backwardWeight(x, y, g, dw, winograd: wino); times[3 * i + 2].append(now() - t0)
        }
    }
    for (j, what) in ["fwd", "dx", "dw"].enumerated() {
        let gw = flops / times[j].dropFirst().min()! / 1e9, gi = flops / times[3 + j].dropFirst().min()! / 1e9
        print(pad("conv3x3 \(label) \(what)", 24) + String(format: "%7.1f GF/s   %7.1f GF/s   (Winograd / im2col: %.2f×; im2col FLOPs)", gw, gi, gw / gi))
        results.append(["workload": "conv3x3_winograd_\(label.replacingOccurrences(of: " ", with: "_"))_\(what)",
                        "engine_gflops": gw, "im2col_gflops": gi, "ratio": gw / gi])
    }
}

if let jsonPath {
    let data = try JSONSerialization.data(withJSONObject: ["threads": threads, "results": results], options: [.prettyPrinted, .sortedKeys])
    try AtomicFile.write(data, to: jsonPath)
    print("wrote \(jsonPath)")
}
