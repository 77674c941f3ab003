import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Strided attention: the kernel reading q, k, v in place from a qkv tensor (with the decomposed
/// relative position computed from its tables) against the scalar reference on gathered copies,
/// and the lowering group against the unfused plans of the same graphs.
final class StridedAttentionTests: XCTestCase {
    var rng = SeededRNG(seed: 53)

    struct Case { var b: Int; var heads: Int; var qh: Int; var qw: Int; var hd: Int; var rel: Bool }

    /// qkv [B, N, 3, heads, hd] read in place; out [B, N, heads, hd] (heads merged). The
    /// reference gathers q, k, v per (b, head), builds relH / relW by naive loops from the tables
    /// and runs `AttentionKernel.reference`.
    func testKernelOnQKVLayoutMatchesReference() throws {
        let cases = [
            Case(b: 2, heads: 3, qh: 3, qw: 5, hd: 16, rel: true),     // microkernel path, N = 15 (row tails)
            Case(b: 1, heads: 2, qh: 14, qw: 14, hd: 64, rel: true),   // SAM's window, head size 64
            Case(b: 2, heads: 2, qh: 4, qw: 7, hd: 20, rel: true),     // sgemm path (dv not a multiple of 16)
            Case(b: 3, heads: 1, qh: 5, qw: 8, hd: 32, rel: true),     // kw a multiple of 16? no: 8 ≤ 16 rows of the grid
            Case(b: 2, heads: 2, qh: 4, qw: 16, hd: 16, rel: true),    // kw = 16: vector bias rows
            Case(b: 2, heads: 3, qh: 1, qw: 37, hd: 48, rel: false),   // no bias, N = 37
        ]
        let saved = (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock)
        defer { (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = saved }
        for (minRows, budget, keyBlock) in [saved, (4, 0, 5), (8, 0, 16)] {
            (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = (minRows, budget, keyBlock)
            for c in cases {
                let n = c.qh * c.qw, dim = c.heads * c.hd, scale: Float = 0.3
                let qkv = rng.tensor([c.b, n, 3, c.heads, c.hd], -1.5, 1.5)
                let th = rng.tensor([c.qh, c.qh, c.hd]), tw = rng.tensor([c.qw, c.qw, c.hd])
                let f = qkv.scalars
                // gathered copies [B·heads, N, hd]
                func part(_ p: Int) -> Tensor {
                    var out = [Float](repeating: 0, count: c.b * c.heads * n * c.hd)
                    for b in 0..<c.b { for h in 0..<c.heads { for t in 0..<n { for e in 0..<c.hd {
                        out[((b * c.heads + h) * n + t) * c.hd + e] = f[(((b * n + t) * 3 + p) * c.heads + h) * c.hd + e]
                    } } } }
                    return Tensor(shape: [c.b * c.heads, n, c.hd], out)
                }
                let q = part(0), k = part(1), v = part(2)
                var relH: Tensor? = nil, relW: Tensor? = nil
                if c.rel {
                    var rh = [Float](repeating: 0, count: c.b * c.heads * n * c.qh), rw = [Float](repeating: 0, count: c.b * c.heads * n * c.qw)
                    let qf = q.scalars, hf = th.scalars, wf = tw.scalars
                    for bh in 0..<(c.b * c.heads) { for t in 0..<n {
                        let y = t / c.qw, x = t % c.qw
                        for i in 0..<c.qh { var s: Float = 0; for e in 0..<c.hd { s += qf[(bh * n + t) * c.hd + e] * hf[(y * c.qh + i) * c.hd + e] }; rh[(bh * n + t) * c.qh + i] = s }
                        for j in 0..<c.qw { var s: Float = 0; for e in 0..<c.hd { s += qf[(bh * n + t) * c.hd + e] * wf[(x * c.qw + j) * c.hd + e] }; rw[(bh * n + t) * c.qw + j] = s }
                    } }
                    relH = Tensor(shape: [c.b * c.heads, n, c.qh], rh); relW = Tensor(shape: [c.b * c.heads, n, c.qw], rw)
                }
                let ref = AttentionKernel.reference(q: q, k: k, v: v, relH: relH, relW: relW, scale: scale)
                typealias L = AttentionOperandLayout
                func layout(_ p: Int) -> L {
                    L(offset: p * dim, batch: [.init(size: c.b, stride: n * 3 * dim), .init(size: c.heads, stride: c.hd)], rowStride: 3 * dim)
                }
                let outLayout = L(offset: 0, batch: [.init(size: c.b, stride: n * dim), .init(size: c.heads, stride: c.hd)], rowStride: dim)
                let spec = AttentionSpec(batch: c.b * c.heads, n: n, m: n, d: c.hd, dv: c.hd, scale: scale,
                                         q: layout(0), k: layout(1), v: layout(2), out: outLayout, relGrid: c.rel ? [c.qh, c.qw] : [])
                let out = Tensor(zeros: [c.b, n, c.heads, c.hd])
                AttentionKernel.forward(spec, q: qkv, k: qkv, v: qkv, relH: c.rel ? th : nil, relW: c.rel ? tw : nil, out)
                // back to [B·heads, N, hd]
                let o = out.scalars
                var got = [Float](repeating: 0, count: o.count)
                for b in 0..<c.b { for h in 0..<c.heads { for t in 0..<n { for e in 0..<c.hd {
                    got[((b * c.heads + h) * n + t) * c.hd + e] = o[((b * n + t) * c.heads + h) * c.hd + e]
                } } } }
                XCTAssertLessThan(relativeL2(got, ref), 2e-6, "\(c) minRows \(minRows) keyBlock \(keyBlock)")
            }
        }
    }

    /// TinyViT's layout: qkv [B, N, heads, 3·kd] (q, k, v the thirds of the last axis) read in
    /// place with a full bias [heads, N, N] (batch item b = (window, head) reads bias item
    /// b mod heads); against the reference on gathered copies with the bias repeated per item.
    func testKernelOnSplitQKVWithFullBiasMatchesReference() throws {
        let saved = (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock)
        defer { (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = saved }
        for (minRows, budget, keyBlock) in [saved, (4, 0, 5)] {
            (AttentionKernel.minRows, AttentionKernel.tileBudget, AttentionKernel.keyBlock) = (minRows, budget, keyBlock)
            for (b, heads, n, kd) in [(3, 2, 49, 32), (2, 3, 13, 16), (2, 2, 10, 20)] {    // TinyViT's 7×7 window; tails; sgemm path
                let scale: Float = 0.4, row = heads * 3 * kd
                let qkv = rng.tensor([b, n, heads, 3 * kd], -1.5, 1.5), bias = rng.tensor([heads, n, n], -2, 2)
                let f = qkv.scalars, bf = bias.scalars
                func part(_ p: Int) -> Tensor {
                    var out = [Float](repeating: 0, count: b * heads * n * kd)
                    for w in 0..<b { for h in 0..<heads { for t in 0..<n { for e in 0..<kd {
                        out[((w * heads + h) * n + t) * kd + e] = f[w * n * row + t * row + h * 3 * kd + p * kd + e]
                    } } } }
                    return Tensor(shape: [b * heads, n, kd], out)
                }
                var full = [Float](repeating: 0, count: b * heads * n * n)
                for w in 0..<b { for h in 0..<heads { for i in 0..<(n * n) { full[(w * heads + h) * n * n + i] = bf[h * n * n + i] } } }
                let ref = AttentionKernel.reference(q: part(0), k: part(1), v: part(2), relH: nil, relW: nil,
                                                    bias: Tensor(shape: [b * heads, n, n], full), scale: scale)
                typealias L = AttentionOperandLayout
                func layout(_ p: Int) -> L {
                    L(offset: p * kd, batch: [.init(size: b, stride: n * row), .init(size: heads, stride: 3 * kd)], rowStride: row)
                }
                let outLayout = L(offset: 0, batch: [.init(size: b, stride: n * heads * kd), .init(size: heads, stride: kd)],
                                  rowStride: heads * kd)
                let spec = AttentionSpec(batch: b * heads, n: n, m: n, d: kd, dv: kd, scale: scale,
                                         q: layout(0), k: layout(1), v: layout(2), out: outLayout)
                let out = Tensor(zeros: [b, n, heads, kd])
                AttentionKernel.forward(spec, q: qkv, k: qkv, v: qkv, relH: nil, relW: nil, bias: bias, out)
                let o = out.scalars
                var got = [Float](repeating: 0, count: o.count)
                for w in 0..<b { for h in 0..<heads { for t in 0..<n { for e in 0..<kd {
                    got[((w * heads + h) * n + t) * kd + e] = o[((w * n + t) * heads + h) * kd + e]
                } } } }
                XCTAssertLessThan(relativeL2(got, ref), 2e-6, "b \(b) heads \(heads) n \(n) kd \(kd) minRows \(minRows)")
            }
        }
    }

    // MARK: the lowering group

    func run(_ g: Graph, fuse: Bool, _ b: [String: Tensor]) throws -> (Tensor, Plan) {
        let plan = try Compiler.compile(g, fuse: fuse)
        return (try Executor(plan).run(b)["y"]!, plan)
    }

    func count(_ p: Plan, _ pred: (Kernel) -> Bool) -> Int { p.steps.filter { pred($0.kernel) }.count }
    func isStrided(_ k: Kernel) -> Bool { if case .attentionStrided = k { return true }; return false }
    func isPlainAttention(_ k: Kernel) -> Bool { if case .attention = k { return true }; return false }
    func isPermute(_ k: Kernel) -> Bool { if case .permute = k { return true }; return false }
    func isSlice(_ k: Kernel) -> Bool { if case .slice = k { return true }; return false }
    func isMatmul(_ k: Kernel) -> Bool {
        switch k { case .matmul, .matmulAccumulate: return true; default: return false }
    }

    /// SAM's attention (global with H ≠ W; windowed with padding; head sizes 4, 16 and 12): one
    /// strided attention reading the qkv projection, no permute or slice left inside the block
    /// (the windowed ones keep the partition permutes and the crop), the rel-pos matmuls gone,
    /// and the result agrees with the unfused plan.
    func testSAMAttentionReadsQKVInPlace() throws {
        for (shape, window, heads, dim) in [([1, 6, 5, 8], 0, 2, 8), ([2, 6, 6, 8], 4, 2, 8), ([1, 7, 9, 32], 0, 2, 32),
                                            ([1, 9, 10, 24], 4, 2, 24)] {
            let g = Graph()
            let x = g.input("x", shape)
            let qkvW = g.input("qkv_w", [3 * dim, dim]), qkvB = g.input("qkv_b", [3 * dim]), projW = g.input("proj_w", [dim, dim])
            let (h, w) = window > 0 ? (window, window) : (shape[1], shape[2])
            let hd = dim / heads
            let rph = g.input("rph", [2 * h - 1, hd]), rpw = g.input("rpw", [2 * w - 1, hd])
            var inp = x, padded = (0, 0)
            if window > 0 { (inp, padded) = try g.windowPartition(x, window: window) }
            var y = try g.samAttention(inp, heads: heads, qkvWeight: qkvW, qkvBias: qkvB, projWeight: projW, projBias: nil,
                                       relPosH: rph, relPosW: rpw)
            if window > 0 { y = try g.windowUnpartition(y, window: window, padded: padded, original: (shape[1], shape[2])) }
            g.output("y", y)
            let bind = ["x": rng.tensor(shape), "qkv_w": rng.tensor([3 * dim, dim]), "qkv_b": rng.tensor([3 * dim]),
                        "proj_w": rng.tensor([dim, dim]), "rph": rng.tensor([2 * h - 1, hd]), "rpw": rng.tensor([2 * w - 1, hd])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, _) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(shape)")
            XCTAssertEqual(count(fp, isStrided), 1, fp.description)
            XCTAssertEqual(count(fp, isPlainAttention), 0)
            XCTAssertTrue(fp.steps.contains { if case .attentionStrided(let s) = $0.kernel { return s.relGrid == [h, w] && $0.args.count == 5 }; return false })
            XCTAssertEqual(count(fp, isPermute), window > 0 ? 2 : 0, fp.description)
            XCTAssertEqual(count(fp, isMatmul), 2, fp.description)      // qkv and proj only
            let padding = window > 0 && (shape[1] % window != 0 || shape[2] % window != 0)
            XCTAssertEqual(count(fp, isSlice), padding ? 1 : 0, fp.description)
        }
    }

    /// TinyViT's attention as `tinyViTAttention` builds it: q, k, v slices of the last axis of
    /// the qkv projection [B, N, heads, 3·kd] permuted to [B, heads, N, kd], a learned bias
    /// [1, heads, N, N] gathered from its table, the heads merged after. One strided attention
    /// with the bias as its fourth operand; no slice or permute left; agrees with the unfused plan.
    func testTinyViTAttentionReadsQKVInPlace() throws {
        for (b, n, heads, kd) in [(4, 49, 2, 32), (3, 10, 3, 8)] {
            let dim = heads * kd
            let g = Graph()
            let x = g.input("x", [b, n, dim])
            let qkv = try g.reshape(g.add(g.matmul(x, g.input("qkv_w", [3 * dim, dim]), transposeB: true), g.input("qkv_b", [3 * dim])),
                                    [b, n, heads, 3 * kd])
            func part(_ i: Int) throws -> Value {
                try g.permute(g.slice(qkv, dims: [3], starts: [i * kd], ends: [(i + 1) * kd]), [0, 2, 1, 3])
            }
            let idx = (0..<(n * n)).map { ($0 * 7 + $0 / n) % 5 }
            let table = g.input("table", [heads, 5])
            let bias = try g.reshape(g.permute(g.gatherRows(g.permute(table, [1, 0]), idx), [1, 0]), [1, heads, n, n])
            let scores = try g.add(g.affine(g.matmul(part(0), part(1), transposeB: true), scale: 1 / Float(kd).squareRoot()), bias)
            let o = try g.matmul(g.softmax(scores, axis: -1), part(2))
            let merged = try g.reshape(g.permute(o, [0, 2, 1, 3]), [b, n, dim])
            g.output("y", try g.matmul(merged, g.input("proj_w", [dim, dim]), transposeB: true))
            let bind = ["x": rng.tensor([b, n, dim]), "qkv_w": rng.tensor([3 * dim, dim]), "qkv_b": rng.tensor([3 * dim]),
                        "table": rng.tensor([heads, 5], -2, 2), "proj_w": rng.tensor([dim, dim])]
            let (fused, fp) = try run(g, fuse: true, bind)
            let (plain, _) = try run(g, fuse: false, bind)
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, "\(b) \(n) \(heads) \(kd)")
            XCTAssertEqual(count(fp, isStrided), 1, fp.description)
            XCTAssertEqual(count(fp, isPlainAttention), 0)
            XCTAssertTrue(fp.steps.contains { if case .attentionStrided = $0.kernel { return $0.args.count == 4 }; return false })
            XCTAssertEqual(count(fp, isSlice), 0, fp.description)
            XCTAssertEqual(count(fp, { if case .permute(let p) = $0 { return p == [0, 2, 1, 3] }; return false }), 0, fp.description)
        }
    }

    /// q, k, v as other views: a strided slice of the rows, a permuted source, and a result
    /// permuted then sliced (a slice is not written through: the attention writes contiguously
    /// and the slice runs). Agrees with the unfused plan.
    func testOtherViewsAgree() throws {
        let g = Graph()
        let src = g.input("x", [2, 3, 20, 3, 16])               // [B, heads, rows, 3, d]
        let t = try g.permute(src, [3, 0, 1, 2, 4])              // [3, B, heads, rows, d]
        func part(_ i: Int, rows: ClosedRange<Int>, step: Int) throws -> Value {
            let s = try g.slice(t, dims: [0, 3], starts: [i, rows.lowerBound], ends: [i + 1, rows.upperBound], steps: [1, step])
            let sh = g.shape(s)
            return try g.reshape(s, [sh[1] * sh[2], sh[3], sh[4]])
        }
        let q = try part(0, rows: 0...19, step: 2), k = try part(1, rows: 1...18, step: 1), v = try part(2, rows: 2...19, step: 1)
        let a = try g.matmul(g.softmax(g.affine(g.matmul(q, k, transposeB: true), scale: 0.25), axis: -1), v)   // [6, 10, 16]
        let o = try g.permute(g.reshape(a, [2, 3, 10, 16]), [0, 2, 1, 3])
        g.output("y", try g.slice(o, dims: [1], starts: [1], ends: [9]))
        let bind = ["x": rng.tensor([2, 3, 20, 3, 16], -2, 2)]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertEqual(fused.shape, [2, 8, 3, 16])
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertEqual(count(fp, isStrided), 1, fp.description)
        XCTAssertTrue(fp.steps.contains { if case .attentionStrided(let s) = $0.kernel { return s.q.rowStride == 2 * 3 * 16 }; return false },
                      fp.description)
    }

    /// Operands the kernel cannot read in place (q's columns strided) leave the attention as it
    /// was, and the plans still agree.
    func testStridedColumnsAreNotReadInPlace() throws {
        let g = Graph()
        let x = g.input("x", [2, 9, 16])
        let q = try g.slice(x, dims: [2], starts: [0], ends: [16], steps: [2])    // [2, 9, 8], column stride 2
        let k = try g.slice(x, dims: [2], starts: [8], ends: [16])
        let y = try g.matmul(g.softmax(g.matmul(q, k, transposeB: true), axis: -1), x)
        g.output("y", y)
        let bind = ["x": rng.tensor([2, 9, 16])]
        let (fused, fp) = try run(g, fuse: true, bind)
        let (plain, _) = try run(g, fuse: false, bind)
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
        XCTAssertEqual(count(fp, isStrided), 0, fp.description)
        XCTAssertEqual(count(fp, isPlainAttention), 1, fp.description)
    }
}
