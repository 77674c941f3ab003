import Compiler
import Graph
import Kernels
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// The packed-weight linear kernel (`PackedGemm.run`: C = f(A·Bᵀ + addend)) and the unpacked
/// A·B kernel of 1×1 convolutions (`runNN`), against Double loops. The kernels are called
/// directly, so they are checked on machines where the engine does not pick them (AVX2).
final class PackedGemmTests: XCTestCase {
    var rng = SeededRNG(seed: 57)

    func gelu(_ x: Double) -> Double { UnaryFn.geluErf.reference(x) }

    /// Shapes: a last row tile of 1–7 rows, a 16-column last panel, several column blocks
    /// (n > 256), several k blocks (k > 384, not a multiple of 16), strided A rows.
    func testLinearMatchesLoop() {
        let cases: [(m: Int, n: Int, k: Int, lda: Int)] = [
            (64, 16, 16, 16), (131, 48, 33, 40), (200, 288, 400, 400), (77, 272, 800, 803), (129, 32, 5 * 16, 96),
        ]
        for (m, n, k, lda) in cases {
            let a = rng.tensor([m, lda]), w = rng.tensor([n, k]), bias = rng.tensor([n]), res = rng.tensor([m, n])
            let (af, wf, bf, rf) = (a.scalars, w.scalars, bias.scalars, res.scalars)
            func product(_ i: Int, _ j: Int) -> Double {
                var s = 0.0
                for q in 0..<k { s += Double(af[i * lda + q]) * Double(wf[j * k + q]) }
                return s
            }
            // (addend terms, activation, accumulate into C's old values, residual aliasing C)
            let variants: [(bias: Bool, residual: Bool, f: UnaryFn?, accumulate: Bool, inPlace: Bool)] = [
                (false, false, nil, false, false), (false, false, nil, true, false), (true, false, .geluErf, false, false),
                (true, true, nil, false, false), (false, true, .geluErf, false, false), (true, true, .relu, false, true),
            ]
            for v in variants {
                let c = v.inPlace ? Tensor(shape: [m, n], rf) : rng.tensor([m, n])
                let before = c.scalars
                let addend: PackedGemm.Addend? = (v.bias || v.residual)
                    ? .init(bias: v.bias ? UnsafePointer(bias.ptr) : nil, residual: v.residual ? UnsafePointer(v.inPlace ? c.ptr : res.ptr) : nil, ldr: n)
                    : nil
                PackedGemm.run(m: m, n: n, k: k, a: a.ptr, lda: lda, b: w.ptr, ldb: k, c: c.ptr, ldc: n,
                               accumulate: v.accumulate, addend: addend, activation: v.f)
                var ref = [Float](repeating: 0, count: m * n)
                for i in 0..<m { for j in 0..<n {
                    var s = product(i, j)
                    if v.accumulate { s += Double(before[i * n + j]) }
                    if v.bias { s += Double(bf[j]) }
                    if v.residual { s += Double(rf[i * n + j]) }
                    if let f = v.f { s = f.reference(s) }
                    ref[i * n + j] = Float(s)
                } }
                XCTAssertLessThan(relativeL2(c.scalars, ref), 1e-6, "m \(m) n \(n) k \(k) lda \(lda) \(v)")
            }
        }
    }

    /// runNN: C (+)= A·B with B's rows strided (a 1×1 convolution's input rows); m with a tail
    /// below 8 (through sgemm), n with tails of 16 and of fewer than 16 columns.
    func testUnpackedProductMatchesLoop() {
        for (m, n, k, ldb, ldc) in [(8, 32, 8, 32, 32), (21, 100, 64, 130, 101), (64, 1024, 256, 4096, 1030), (13, 47, 9, 47, 50)] {
            let a = rng.tensor([m, k]), b = rng.tensor([k, ldb])
            let (af, bf) = (a.scalars, b.scalars)
            for accumulate in [false, true] {
                let c = rng.tensor([m, ldc])
                let before = c.scalars
                PackedGemm.runNN(m: m, n: n, k: k, a: a.ptr, lda: k, b: b.ptr, ldb: ldb, c: c.ptr, ldc: ldc, accumulate: accumulate)
                var ref = before
                for i in 0..<m { for j in 0..<n {
                    var s = accumulate ? Double(before[i * ldc + j]) : 0
                    for q in 0..<k { s += Double(af[i * k + q]) * Double(bf[q * ldb + j]) }
                    ref[i * ldc + j] = Float(s)
                } }
                XCTAssertLessThan(relativeL2(c.scalars, ref), 1e-6, "m \(m) n \(n) k \(k) acc \(accumulate)")
                // columns past n are not touched
                for i in 0..<m { for j in n..<ldc { XCTAssertEqual(c.ptr[i * ldc + j], before[i * ldc + j]) } }
            }
        }
    }

    /// `Gemm.linear` takes the linear layer's addend programs (a bias, a bias plus a residual) and
    /// declines anything else (the caller then fills and runs sgemm): a plan of gelu(x·w1ᵀ + b1)
    /// and x + (h·w2ᵀ + b2) with the packed kernel agrees with the unfused plan, and a program it
    /// does not know (bias·2) is left alone.
    func testLinearAddendRecognition() throws {
        let x = rng.tensor([1, 300, 32]), w = rng.tensor([48, 32]), bias = rng.tensor([48]), res = rng.tensor([1, 300, 48])
        let y = Tensor(zeros: [1, 300, 48])
        let sum = FusedProgram([.load(0), .load(1), .binary(.add, 0, 1)])
        XCTAssertEqual(Gemm.linear(x, w, transA: false, transB: true, y, addend: sum, operands: [bias, res], activation: .geluErf),
                       PackedGemm.applies(m: 300, n: 48, k: 32))
        let scaled = FusedProgram([.load(0), .constant(2), .binary(.mul, 0, 1)])
        XCTAssertFalse(Gemm.linear(x, w, transA: false, transB: true, y, addend: scaled, operands: [bias], activation: nil))
        XCTAssertFalse(Gemm.linear(x, w, transA: false, transB: false, y, addend: sum, operands: [bias, res], activation: nil))

        let w1 = rng.tensor([64, 32]), b1 = rng.tensor([64]), w2 = rng.tensor([32, 64]), b2 = rng.tensor([32])
        let g = Graph()
        let xv = g.input("x", x.shape)
        let h = try g.gelu(g.linear(xv, g.input("w1", w1.shape), g.input("b1", b1.shape)))
        g.output("y", try g.add(xv, g.linear(h, g.input("w2", w2.shape), g.input("b2", b2.shape))))
        let bind = ["x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2]
        let fused = try Executor(Compiler.compile(g, fuse: true)).run(bind)["y"]!
        let plain = try Executor(Compiler.compile(g, fuse: false)).run(bind)["y"]!
        XCTAssertLessThan(relativeL2(fused.scalars, plain.scalars), 1e-6)
    }
}
