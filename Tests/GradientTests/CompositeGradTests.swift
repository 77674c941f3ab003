import Graph
import Primitives
import Tensor
import TestSupport
import XCTest

final class CompositeGradTests: XCTestCase {
    var rng = SeededRNG(seed: 53)

    func testNormalisations() throws {
        let x = rng.tensor([3, 4, 3, 2]), w = rng.tensor([4], 0.5, 1.5), b = rng.tensor([4])
        let rm = rng.tensor([4]), rv = rng.tensor([4], 0.5, 1.5)
        XCTAssertLessThan(try gradCheck([x, w, b], h: 1e-3) { g, v in
            let r = try g.batchNormTrain(v[0], weight: v[1], bias: v[2], runningMean: g.constant(0, [4]),
                                         runningVar: g.constant(1, [4]))
            return r.y
        }.worst, 1e-2)
        XCTAssertLessThan(try gradCheck([x, w, b, rm, rv]) { g, v in
            try g.batchNormEval(v[0], weight: v[1], bias: v[2], runningMean: v[3], runningVar: v[4]) }.worst, 1e-2)
        let t = rng.tensor([2, 5, 6]), lw = rng.tensor([6]), lb = rng.tensor([6])
        XCTAssertLessThan(try gradCheck([t, lw, lb], h: 1e-3) { g, v in try g.layerNorm(v[0], weight: v[1], bias: v[2]) }.worst, 1e-2)
        XCTAssertLessThan(try gradCheck([x, w, b], h: 1e-3) { g, v in try g.layerNorm2d(v[0], weight: v[1], bias: v[2]) }.worst, 1e-2)
    }

    /// conv → BatchNorm (train) → ReLU: backward reads the ReLU's output (not its input) and, of
    /// BatchNorm's full-size values, only the centred input — the two activations PyTorch keeps
    /// (a conv output and a ReLU output), not four. Values still match finite differences.
    func testConvBatchNormReluBackwardReadsTwoActivations() throws {
        let x = rng.tensor([2, 3, 5, 4]), cw = rng.tensor([4, 3, 3, 3], -0.5, 0.5), w = rng.tensor([4], 0.5, 1.5), b = rng.tensor([4])
        func block(_ g: Graph, _ v: [Value]) throws -> Value {
            let c = try g.conv2d(v[0], v[1], nil, ConvGeometry(padding: 1))
            return try g.relu(g.batchNormTrain(c, weight: v[2], bias: v[3], runningMean: g.constant(0, [4]),
                                               runningVar: g.constant(1, [4])).y)
        }
        XCTAssertLessThan(try gradCheck([x, cw, w, b], h: 1e-3, block).worst, 1e-2)

        let g = Graph()
        let v = [g.input("x", x.shape), g.parameter("cw", cw.shape), g.parameter("w", w.shape), g.parameter("b", b.shape)]
        let loss = try g.sumAll(g.mul(block(g, v), g.input("r", [2, 4, 5, 4])))
        let forward = g.nodes.count
        _ = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: Array(v[1...]))
        let full = [2, 4, 5, 4]
        var read = Set<String>()
        for n in g.nodes[forward...] {
            if case .unaryGrad(.relu) = n.op, case .unary(let f) = g.nodes[n.inputs[0].id].op { XCTAssertEqual(f, .relu) }
            for i in n.inputs where i.id < forward && g.shape(i) == full && !g.nodes[i.id].inputs.isEmpty {
                read.insert(g.nodes[i.id].op.name)   // computed values, not bindings
            }
        }
        XCTAssertEqual(read, ["relu", "sub"], "full-size forward values read by backward")
    }

    func testLosses() throws {
        let logits = rng.tensor([2, 1, 5, 4], -3, 3)
        let target = Tensor(shape: [2, 1, 5, 4], (0..<40).map { _ in Float(rng.int(0...1)) })
        for (name, f) in [("dicece", Graph.diceCELoss), ("stage1", Graph.stage1Loss), ("bce_logits", Graph.bceWithLogits)] {
            let r = try gradCheck([logits, target], wrt: [0], h: 1e-3) { g, v in try f(g)(v[0], v[1]) }
            XCTAssertLessThan(r.worst, 1e-2, "\(name): \(r)")
        }
    }

    func testSAMAttentionWithRelativePositions() throws {
        let dim = 8, heads = 2, h = 3, w = 4
        let x = rng.tensor([1, h, w, dim]), qkvW = rng.tensor([3 * dim, dim], -0.5, 0.5), qkvB = rng.tensor([3 * dim])
        let projW = rng.tensor([dim, dim], -0.5, 0.5), projB = rng.tensor([dim])
        let rph = rng.tensor([2 * h - 1, dim / heads]), rpw = rng.tensor([2 * w - 1, dim / heads])
        let r = try gradCheck([x, qkvW, qkvB, projW, projB, rph, rpw], h: 1e-3) { g, v in
            try g.samAttention(v[0], heads: heads, qkvWeight: v[1], qkvBias: v[2], projWeight: v[3], projBias: v[4],
                               relPosH: v[5], relPosW: v[6])
        }
        XCTAssertLessThan(r.worst, 1e-2, "\(r)")
        // a table of another length is resized linearly first (get_rel_pos interpolation)
        let rphShort = rng.tensor([3, dim / heads])
        let r2 = try gradCheck([x, qkvW, rphShort, rpw], h: 1e-3) { g, v in
            try g.samAttention(v[0], heads: heads, qkvWeight: v[1], qkvBias: nil, projWeight: g.constant(0.1, [dim, dim]),
                               projBias: nil, relPosH: v[2], relPosW: v[3])
        }
        XCTAssertLessThan(r2.worst, 1e-2, "\(r2)")
    }
}
