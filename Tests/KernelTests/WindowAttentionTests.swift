import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// `window_attention` and the pass that forms it (`WindowAttentionFusion`): the kernel against a
/// Double reference of the padded, partitioned computation; TinyViT-style windowed blocks built
/// from primitives agree with their unfused plans, with no pad, window permutes or crop left and
/// the qkv projection on the image's tokens only; patterns the pass must leave alone are left.
final class WindowAttentionTests: XCTestCase {
    var rng = SeededRNG(seed: 83)

    /// The kernel on partial windows (both edges), TinyViT's row layout (per head q, k, v) and a
    /// heads-major one, microkernel (dv 16, 32) and sgemm (dv 8) paths, with and without a bias.
    func testKernelAgainstReference() throws {
        struct Case { var b, h, w, ws, heads, d, dv: Int; var tinyViT: Bool; var bias: Bool }
        let cases = [Case(b: 2, h: 9, w: 10, ws: 4, heads: 2, d: 16, dv: 16, tinyViT: true, bias: true),
                     Case(b: 1, h: 7, w: 7, ws: 7, heads: 3, d: 8, dv: 8, tinyViT: false, bias: false),
                     Case(b: 1, h: 15, w: 13, ws: 7, heads: 2, d: 32, dv: 32, tinyViT: true, bias: true),
                     Case(b: 1, h: 5, w: 11, ws: 3, heads: 1, d: 12, dv: 16, tinyViT: true, bias: false)]
        for c in cases {
            let row = c.heads * (2 * c.d + c.dv) + 3       // 3 spare columns nobody reads
            let spec = c.tinyViT
                ? WindowAttentionSpec(window: c.ws, heads: c.heads, d: c.d, dv: c.dv, scale: 0.3, qOffset: 0, kOffset: c.d,
                                      vOffset: 2 * c.d, headStride: 2 * c.d + c.dv)
                : WindowAttentionSpec(window: c.ws, heads: c.heads, d: c.d, dv: c.dv, scale: 0.3, qOffset: 3, kOffset: 3 + c.heads * c.d,
                                      vOffset: 3 + 2 * c.heads * c.d, headStride: c.d)
            XCTAssertLessThanOrEqual(spec.minimumRow, row)
            let n = c.ws * c.ws
            let qkv = rng.tensor([c.b, c.h, c.w, row], -2, 2), pad = rng.tensor([row], -2, 2)
            let bias = c.bias ? rng.tensor([c.heads, n, n], -1, 1) : nil
            let out = Tensor(zeros: [c.b, c.h, c.w, c.heads * c.dv])
            AttentionKernel.windowForward(spec, qkv: qkv, padRow: pad, bias: bias, out)
            let ref = AttentionKernel.windowReference(spec, qkv: qkv, padRow: pad, bias: bias)
            XCTAssertLessThan(relativeL2(out.scalars, ref), 2e-6, "\(c)")
            XCTAssertLessThan(zip(out.scalars, ref).map { abs($0 - $1) }.max()!, 1e-5, "\(c)")
            // the pad row is a key: another pad row changes the edge windows' results
            if c.h % c.ws != 0 {
                let other = Tensor(zeros: out.shape)
                AttentionKernel.windowForward(spec, qkv: qkv, padRow: rng.tensor([row], -2, 2), bias: bias, other)
                XCTAssertGreaterThan(relativeL2(other.scalars, out.scalars), 1e-3, "\(c)")
            }
        }
    }

    /// The graph op through the compiler, and through serialization: same numbers as the kernel's
    /// reference; shape errors name what they expected.
    func testGraphOpRoundTripsAndChecksShapes() throws {
        let spec = WindowAttentionSpec(window: 4, heads: 2, d: 16, dv: 16, scale: 0.25, qOffset: 0, kOffset: 16, vOffset: 32,
                                       headStride: 48)
        let g = Graph()
        let qkv = g.input("qkv", [1, 6, 9, 96]), pad = g.input("pad", [1, 1, 96]), bias = g.input("bias", [2, 16, 16])
        g.output("y", try g.add(.windowAttention(spec), [qkv, pad, bias]))
        let back = try Graph.deserialize(try g.serialized())
        XCTAssertEqual(back.structuralHash, g.structuralHash)
        let bind = ["qkv": rng.tensor([1, 6, 9, 96]), "pad": rng.tensor([1, 1, 96]), "bias": rng.tensor([2, 16, 16])]
        let y = try Executor(try Compiler.compile(back)).run(bind)["y"]!
        XCTAssertEqual(y.shape, [1, 6, 9, 32])
        let ref = AttentionKernel.windowReference(spec, qkv: bind["qkv"]!, padRow: bind["pad"]!, bias: bind["bias"]!)
        XCTAssertLessThan(relativeL2(y.scalars, ref), 2e-6)
        let bad = Graph()
        let narrow = bad.input("qkv", [1, 6, 9, 80]), p = bad.input("pad", [80])
        XCTAssertThrowsError(try bad.add(.windowAttention(spec), [narrow, p])) { e in
            XCTAssertTrue("\(e)".contains("at least 96"), "\(e)")
        }
        XCTAssertThrowsError(try bad.add(.windowAttention(spec), [bad.input("wide", [1, 6, 9, 96]), p])) { e in
            XCTAssertTrue("\(e)".contains("pad row needs 96"), "\(e)")
        }
    }

    /// TinyViT's windowed attention as `tinyViTBlock` builds it: pad + partition, LayerNorm, qkv
    /// linear, q/k/v slices of [windows, N, heads, 3·kd], a learned bias [1, heads, N, N], heads
    /// merged, unpartition + crop, projection, residual.
    func block(_ g: Graph, b: Int, h: Int, w: Int, heads: Int, kd: Int, ws: Int, extraReader: Bool = false) throws -> Value {
        let dim = heads * kd, n = ws * ws
        let x = g.input("x", [b, h * w, dim])
        let (win, padded) = try g.windowPartition(g.reshape(x, [b, h, w, dim]), window: ws)
        let nw = g.shape(win)[0]
        let tokens = try g.reshape(win, [nw, n, dim])
        let normed = try g.layerNorm(tokens, weight: g.input("ln_w", [dim]), bias: g.input("ln_b", [dim]))
        let qkv = try g.reshape(g.linear(normed, g.input("qkv_w", [3 * dim, dim]), g.input("qkv_b", [3 * dim])), [nw, n, heads, 3 * kd])
        func part(_ i: Int) throws -> Value {
            try g.permute(g.slice(qkv, dims: [3], starts: [i * kd], ends: [(i + 1) * kd]), [0, 2, 1, 3])
        }
        let idx = (0..<(n * n)).map { ($0 * 7 + $0 / n) % 5 }
        let bias = try g.reshape(g.permute(g.gatherRows(g.permute(g.input("table", [heads, 5]), [1, 0]), idx), [1, 0]), [1, heads, n, n])
        let scores = try g.add(g.affine(g.matmul(part(0), part(1), transposeB: true), scale: 1 / Float(kd).squareRoot()), bias)
        let o = try g.matmul(g.softmax(scores, axis: -1), part(2))
        let merged = try g.reshape(g.permute(o, [0, 2, 1, 3]), [nw, ws, ws, dim])
        let back = try g.reshape(g.windowUnpartition(merged, window: ws, padded: padded, original: (h, w)), [b, h * w, dim])
        let y = try g.add(x, g.linear(back, g.input("proj_w", [dim, dim]), g.input("proj_b", [dim])))
        if extraReader { g.output("normed", normed) }
        return y
    }

    func bindings(b: Int, h: Int, w: Int, heads: Int, kd: Int) -> [String: Tensor] {
        let dim = heads * kd
        return ["x": rng.tensor([b, h * w, dim], -2, 2), "ln_w": rng.tensor([dim], 0.5, 1.5), "ln_b": rng.tensor([dim], -1, 1),
                "qkv_w": rng.tensor([3 * dim, dim], -0.3, 0.3), "qkv_b": rng.tensor([3 * dim]), "table": rng.tensor([heads, 5], -2, 2),
                "proj_w": rng.tensor([dim, dim], -0.3, 0.3), "proj_b": rng.tensor([dim])]
    }

    func count(_ p: Plan, _ f: (Kernel) -> Bool) -> Int { p.steps.filter { f($0.kernel) }.count }

    func testTinyViTBlockAttendsInPlace() throws {
        for (b, h, w, heads, kd, ws) in [(2, 9, 10, 2, 16, 4), (1, 8, 8, 2, 16, 4), (1, 13, 13, 3, 32, 7)] {
            let g = Graph()
            g.output("y", try block(g, b: b, h: h, w: w, heads: heads, kd: kd, ws: ws))
            let bind = bindings(b: b, h: h, w: w, heads: heads, kd: kd)
            let fp = try Compiler.compileUncached(g)
            let fused = try Executor(fp).run(bind)["y"]!
            let plain = try Executor(try Compiler.compileUncached(g, fuse: false)).run(bind)["y"]!
            let without = try Compiler.compileUncached(g, skip: [WindowAttentionFusion.name])
            let other = try Executor(without).run(bind)["y"]!
            let what = "\(b)×\(h)×\(w) heads \(heads) kd \(kd) window \(ws)"
            XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-5, what)
            XCTAssertLessThan(relativeL2(fused.scalars, other.scalars), 1e-5, what)
            XCTAssertEqual(count(fp, { if case .windowAttention = $0 { return true }; return false }), 1, fp.description)
            XCTAssertEqual(count(without, { if case .windowAttention = $0 { return true }; return false }), 0)
            for k in fp.steps.map(\.kernel) {
                switch k {
                case .pad, .slice, .attentionStrided, .attention: XCTFail("\(k) left in \(what)")
                case .permute(let p): XCTAssertNotEqual(p, [0, 1, 3, 2, 4, 5], what)
                default: break
                }
            }
            // GEMM rows: qkv on the image's tokens and the one pad row, the projection on the tokens
            let rows = fp.steps.compactMap { s -> Int? in
                if case .matmulAccumulate = s.kernel { return ShapeMath.count(Array(fp.slotShapes[s.args[0]].dropLast())) }
                if case .matmul = s.kernel { return ShapeMath.count(Array(fp.slotShapes[s.args[0]].dropLast())) }
                return nil
            }
            let padded = h % ws != 0 || w % ws != 0
            XCTAssertEqual(rows.sorted(), (padded ? [1] : []) + [b * h * w, b * h * w], fp.description)
            XCTAssertLessThan(fp.totalFLOPs, without.totalFLOPs * (h % ws == 0 && w % ws == 0 ? 1.0001 : 0.99), what)
        }
    }

    /// When something else reads the padded rows (here a graph output; in training, the
    /// backward), the pattern stays, and the plans still agree.
    func testOtherReadersKeepThePattern() throws {
        let g = Graph()
        g.output("y", try block(g, b: 1, h: 9, w: 10, heads: 2, kd: 16, ws: 4, extraReader: true))
        let bind = bindings(b: 1, h: 9, w: 10, heads: 2, kd: 16)
        let fp = try Compiler.compileUncached(g)
        let fused = try Executor(fp).run(bind)
        let plain = try Executor(try Compiler.compileUncached(g, fuse: false)).run(bind)
        XCTAssertEqual(count(fp, { if case .windowAttention = $0 { return true }; return false }), 0, fp.description)
        for k in ["y", "normed"] { XCTAssertLessThan(relativeL2(fused[k]!.scalars, plain[k]!.scalars), 1e-5, k) }
    }
}
