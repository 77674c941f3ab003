import Foundation
import Compiler
import Graph
import Kernels
import Primitives
import Tensor
import TestSupport
import XCTest

/// SIMD and BLAS kernels against plain scalar references.
final class KernelParityTests: XCTestCase {
    var rng = SeededRNG(seed: 5)

    func testUnarySIMDMatchesScalarReference() {
        let fns: [(UnaryFn, Float, Float)] = [
            (.exp, -80, 80), (.sigmoid, -30, 30), (.tanh, -10, 10), (.tanh, -0.6, 0.6), (.geluErf, -6, 6),
            (.geluTanh, -6, 6), (.hardswish, -5, 5), (.relu, -1, 1), (.rsqrt, 0.01, 100), (.softplus, -20, 20),
            (.log, 0.001, 1000), (.sin, -10, 10),
        ]
        for (f, lo, hi) in fns {
            let n = 1000
            let x = (0..<n).map { _ in rng.uniform(lo, hi) }
            var y = [Float](repeating: 0, count: n), dx = y
            let dy = [Float](repeating: 1, count: n)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { UnaryKernels.apply(f, xp.baseAddress!, $0.baseAddress!, count: n) }
                dy.withUnsafeBufferPointer { d in
                    dx.withUnsafeMutableBufferPointer { UnaryKernels.gradient(f, x: xp.baseAddress!, dy: d.baseAddress!, dx: $0.baseAddress!, count: n) }
                }
            }
            let ref = x.map { Float(f.reference(Double($0))) }
            let dref = x.map { Float(f.referenceDerivative(Double($0))) }
            XCTAssertLessThan(relativeL2(y, ref), 1e-6, "\(f) forward")
            XCTAssertLessThan(relativeL2(dx, dref), 1e-6, "\(f) derivative")
        }
    }

    /// Depthwise 3×3 convs wide enough for the register row kernels (`Depthwise.row3x3`:
    /// stride 1, unaligned 16-column vectors, the last overlapping, scalar edge columns;
    /// `row3x3s2`: stride 2 from even/odd halves of 32-column loads), against a direct loop:
    /// widths at and around the vector edges (odd widths leave a scalar last column at stride
    /// 2), row padding 1, 0 and 2, two channel multipliers.
    func testDepthwiseRowKernelMatchesDirectLoop() throws {
        for (wd, padH, m, st) in [(18, 1, 1, 1), (19, 1, 1, 1), (33, 0, 1, 1), (48, 1, 2, 1), (64, 1, 1, 1), (37, 2, 1, 1),
                                  (34, 1, 1, 2), (35, 1, 1, 2), (64, 1, 2, 2), (67, 0, 1, 2), (50, 2, 1, 2)] {
            let (c, h) = (3, 7)
            let geo = ConvGeometry(strideH: st, strideW: st, padH: padH, padW: 1, dilationH: 1, dilationW: 1, groups: c)
            let ow = (wd + 2 - 3) / st + 1, oh = (h + 2 * padH - 3) / st + 1
            XCTAssertTrue(Depthwise.rowKernelApplies(geo, kh: 3, kw: 3, width: wd, outWidth: ow))
            let x = rng.tensor([2, c, h, wd]), w = rng.tensor([c * m, 1, 3, 3])
            let y = try evaluate([x, w]) { g, v in try g.conv2d(v[0], v[1], nil, geo) }
            XCTAssertEqual(y.shape, [2, c * m, oh, ow])
            var ref = [Float](repeating: 0, count: y.count)
            for n in 0..<2 { for o in 0..<(c * m) { for oy in 0..<oh { for ox in 0..<ow {
                var s: Double = 0
                for i in 0..<3 { for j in 0..<3 {
                    let iy = oy * st - padH + i, ix = ox * st - 1 + j
                    if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                        s += Double(x.floats[((n * c + o / m) * h + iy) * wd + ix]) * Double(w.floats[o * 9 + i * 3 + j])
                    }
                } }
                ref[((n * c * m + o) * oh + oy) * ow + ox] = Float(s)
            } } } }
            let what = "width \(wd) padH \(padH) stride \(st)"
            XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, what)
            XCTAssertLessThan(zip(y.scalars, ref).map { abs($0 - $1) }.max()!, 1e-5, what)
        }
    }

    func testConvMatchesDirectLoop() throws {
        for geo in [ConvGeometry(stride: 2, padding: 1, dilation: 2), ConvGeometry(stride: 1, padding: 1, groups: 4),
                    ConvGeometry(stride: 1, padding: 0, groups: 2)] {
            let x = rng.tensor([2, 4, 9, 8]), w = rng.tensor([8, 4 / geo.groups, 3, 3])
            let y = try evaluate([x, w]) { g, v in try g.conv2d(v[0], v[1], nil, geo) }
            // direct loop reference
            let (oh, ow) = (y.shape[2], y.shape[3]), cg = 4 / geo.groups, og = 8 / geo.groups
            var ref = [Float](repeating: 0, count: y.count)
            for n in 0..<2 { for o in 0..<8 { for oy in 0..<oh { for ox in 0..<ow {
                var s: Double = 0
                let gi = o / og
                for c in 0..<cg { for i in 0..<3 { for j in 0..<3 {
                    let iy = oy * geo.strideH - geo.padH + i * geo.dilationH, ix = ox * geo.strideW - geo.padW + j * geo.dilationW
                    if iy >= 0 && iy < 9 && ix >= 0 && ix < 8 {
                        s += Double(x.floats[((n * 4 + gi * cg + c) * 9 + iy) * 8 + ix]) * Double(w.floats[((o * cg + c) * 3 + i) * 3 + j])
                    }
                } } }
                ref[((n * 8 + o) * oh + oy) * ow + ox] = Float(s)
            } } } }
            XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, "\(geo)")
        }
    }

    func testBatchedMatmulMatchesLoop() throws {
        let a = rng.tensor([3, 1, 4, 5]), b = rng.tensor([2, 5, 6])
        let y = try evaluate([a, b]) { g, v in try g.matmul(v[0], v[1]) }
        XCTAssertEqual(y.shape, [3, 2, 4, 6])
        var ref = [Float]()
        for i in 0..<3 { for j in 0..<2 { for r in 0..<4 { for c in 0..<6 {
            var s: Double = 0
            for k in 0..<5 { s += Double(a.floats[(i * 4 + r) * 5 + k]) * Double(b.floats[(j * 5 + k) * 6 + c]) }
            ref.append(Float(s))
        } } } }
        XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6)
    }

    func testReduceAndLayoutOnLargeParallelInputs() throws {
        // big enough to take the threaded paths
        let x = rng.tensor([8, 64, 33, 17])
        let s = try evaluate([x]) { g, v in try g.sum(v[0], axes: [0, 2, 3]) }
        var ref = [Double](repeating: 0, count: 64)
        for n in 0..<8 { for c in 0..<64 { for k in 0..<(33 * 17) { ref[c] += Double(x.floats[(n * 64 + c) * 561 + k]) } } }
        XCTAssertLessThan(relativeL2(s.scalars, ref.map(Float.init)), 1e-6)
        let p = try evaluate([x]) { g, v in try g.permute(v[0], [0, 2, 3, 1]) }
        let pi: Int = ((1 * 33 + 2) * 17 + 3) * 64 + 5, xi: Int = ((1 * 64 + 5) * 33 + 2) * 17 + 3
        XCTAssertEqual(p.floats[pi], x.floats[xi])
        let m = try evaluate([x]) { g, v in try g.amax(v[0], axes: [1]) }
        XCTAssertEqual(m.floats[0], (0..<64).map { x.floats[$0 * 561] }.max()!)
    }

    /// Softmax rows shorter than, equal to and longer than a vector (the tail's one vector exp).
    func testSoftmaxRowsMatchDoubleReference() throws {
        for n in [1, 7, 16, 23] {
            let x = rng.tensor([5, 3, n], -8, 8)
            let y = try evaluate([x]) { g, v in try g.softmax(v[0], axis: -1) }
            var ref = [Float]()
            for r in 0..<15 {
                let row = (0..<n).map { Double(x.floats[r * n + $0]) }
                let m = row.max()!, e = row.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
                ref += e.map { Float($0 / s) }
            }
            XCTAssertLessThan(relativeL2(y.scalars, ref), 1e-6, "n \(n)")
        }
    }

    func testRunRejectsMissingOrMisshapenBindings() throws {
        let g = Graph()
        g.output("y", try g.relu(g.input("x", [2, 2])))
        let plan = try Compiler.compile(g)
        let ex = Runtime.Executor(plan)
        XCTAssertThrowsError(try ex.run([:])) { XCTAssertTrue("\($0)".contains("\"x\"") && "\($0)".contains("missing")) }
        XCTAssertThrowsError(try ex.run(["x": Tensor(zeros: [3])])) { XCTAssertTrue("\($0)".contains("expected [2, 2]")) }
    }
}

import Runtime
