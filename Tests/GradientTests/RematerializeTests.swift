import Compiler
import Graph
import Primitives
import Runtime
import Tensor
import TestSupport
import XCTest

/// Rematerialisation of cheap activations in training graphs: backward reads recomputed copies
/// of the ReLU outputs, gradients do not change, and the planned activation memory drops.
final class RematerializeTests: XCTestCase {
    var rng = SeededRNG(seed: 11)

    /// two conv → BatchNorm(train) → ReLU layers, loss Σ r·t
    func network() throws -> (Graph, forward: Int, [String: Tensor]) {
        let g = Graph()
        let xs = [2, 8, 64, 64]
        var h = g.input("x", xs)
        var bind = ["x": rng.tensor(xs), "t": rng.tensor(xs)]
        var wrt: [Value] = []
        for l in 0..<2 {
            let cw = g.parameter("cw\(l)", [8, 8, 3, 3]), w = g.parameter("w\(l)", [8]), b = g.parameter("b\(l)", [8])
            bind["cw\(l)"] = rng.tensor([8, 8, 3, 3], -0.3, 0.3); bind["w\(l)"] = rng.tensor([8], 0.5, 1.5); bind["b\(l)"] = rng.tensor([8])
            let c = try g.conv2d(h, cw, nil, ConvGeometry(padding: 1))
            h = try g.relu(g.batchNormTrain(c, weight: w, bias: b, runningMean: g.constant(0, [8]), runningVar: g.constant(1, [8])).y)
            wrt += [cw, w, b]
        }
        let loss = try g.sumAll(g.mul(h, g.input("t", xs)))
        g.output("loss", loss)
        let f = g.nodes.count
        for (v, d) in zip(wrt, try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: wrt)) {
            g.output("grad.\(g.parameters.first { $0.value == v }!.name)", d!)
        }
        return (g, f, bind)
    }

    func testBackwardReadsRecomputedReluOutputs() throws {
        let (g, f, bind) = try network()
        let r = try Rematerialize.apply(g, forwardCount: f)
        var copies = 0
        for n in r.nodes where n.label?.hasPrefix(Rematerialize.labelPrefix) == true {
            if case .unary(.relu) = n.op { copies += 1 }
        }
        XCTAssertEqual(copies, 2)
        // no backward node reads a forward ReLU output any more
        let forwardRelus = Set(r.nodes.indices.filter { i in
            if case .unary(.relu) = r.nodes[i].op { return r.nodes[i].label?.hasPrefix(Rematerialize.labelPrefix) != true }
            return false
        })
        let lossNode = r.outputs.first { $0.name == "loss" }!.value.id
        for (i, n) in r.nodes.enumerated() where i > lossNode {
            XCTAssertTrue(n.inputs.allSatisfy { !forwardRelus.contains($0.id) }, "node %\(i) \(n.op.name)")
        }
        let base = try Compiler.compileUncached(g), remat = try Compiler.compileUncached(r)
        XCTAssertLessThan(remat.memory.peak, base.memory.peak)
        let a = try Executor(base).run(bind), b = try Executor(remat).run(bind)
        for k in a.keys { XCTAssertLessThan(relativeL2(a[k]!.scalars, b[k]!.scalars), 1e-6, k) }
        // and `cse` does not merge the copies back
        XCTAssertTrue(remat.steps.contains { $0.origin.contains(Rematerialize.labelPrefix) })
    }

    func testSmallOrOpaqueValuesAreKept() throws {
        // below `minCount` elements nothing is recomputed
        let g = Graph()
        let x = g.parameter("x", [4, 8])
        let y = try g.relu(g.mul(x, x))
        let loss = try g.sumAll(g.mul(y, y))
        let f = g.nodes.count
        _ = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: [x])
        XCTAssertTrue(try Rematerialize.apply(g, forwardCount: f) === g)
    }

    /// A bottleneck block: 1×1 reduce → BN → ReLU → 1×1 expand (cin → 4·cin) → BN → + x → ReLU.
    func bottleneck(cin: Int, spatial: Int) throws -> (Graph, forward: Int, [String: Tensor]) {
        let g = Graph()
        let wide = 4 * cin, xs = [1, wide, spatial, spatial]
        let x = g.input("x", xs)
        var bind = ["x": rng.tensor(xs), "t": rng.tensor(xs)]
        var wrt: [Value] = []
        func convBN(_ h: Value, _ l: Int, _ cout: Int) throws -> Value {
            let cinl = g.shape(h)[1]
            let cw = g.parameter("cw\(l)", [cout, cinl, 1, 1]), w = g.parameter("w\(l)", [cout]), b = g.parameter("b\(l)", [cout])
            bind["cw\(l)"] = rng.tensor([cout, cinl, 1, 1], -0.3, 0.3); bind["w\(l)"] = rng.tensor([cout], 0.5, 1.5); bind["b\(l)"] = rng.tensor([cout])
            wrt += [cw, w, b]
            return try g.batchNormTrain(g.conv2d(h, cw), weight: w, bias: b, runningMean: g.constant(0, [cout]), runningVar: g.constant(1, [cout])).y
        }
        let r1 = try g.relu(convBN(x, 0, cin))
        let out = try g.relu(g.add(convBN(r1, 1, wide), x))
        let loss = try g.sumAll(g.mul(out, g.input("t", xs)))
        g.output("loss", loss)
        let f = g.nodes.count
        for (v, d) in zip(wrt, try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: wrt)) {
            g.output("grad.\(g.parameters.first { $0.value == v }!.name)", d!)
        }
        return (g, f, bind)
    }

    func remattedConvs(_ r: Graph) -> Int {
        r.nodes.filter { n in
            if case .conv2d = n.op { return n.label?.hasPrefix(Rematerialize.labelPrefix) == true }
            return false
        }.count
    }

    /// The expanding 1×1 conv is recomputed in backward from its (kept) input: less planned
    /// memory, the same gradients.
    func testExpandingPointwiseConvIsRecomputed() throws {
        let (g, f, bind) = try bottleneck(cin: 32, spatial: 32)
        let r = try Rematerialize.apply(g, forwardCount: f)
        XCTAssertEqual(remattedConvs(r), 1)
        let base = try Compiler.compileUncached(g), remat = try Compiler.compileUncached(r)
        XCTAssertLessThan(remat.memory.peak, base.memory.peak)
        let a = try Executor(base).run(bind), b = try Executor(remat).run(bind)
        for k in a.keys { XCTAssertLessThan(relativeL2(a[k]!.scalars, b[k]!.scalars), 1e-6, k) }
    }

    /// Past `maxFlopsPerByte` (Cin 512: 256 FLOPs per byte saved) the conv output is kept.
    func testWideInputConvIsKept() throws {
        let (g, f, _) = try bottleneck(cin: 512, spatial: 8)
        XCTAssertEqual(remattedConvs(try Rematerialize.apply(g, forwardCount: f)), 0)
    }
}
