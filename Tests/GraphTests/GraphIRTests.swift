import Graph
import Primitives
import Tensor
import XCTest

/// IR tests: no kernels run here.
final class GraphIRTests: XCTestCase {
    func testShapeInferenceAndErrorsNameTheNode() throws {
        let g = Graph()
        let x = g.input("x", [2, 3, 8, 8]), w = g.parameter("w", [4, 3, 3, 3])
        let y = try g.conv2d(x, w, nil, ConvGeometry(stride: 2, padding: 1))
        XCTAssertEqual(g.shape(y), [2, 4, 4, 4])
        XCTAssertEqual(g.shape(try g.matmul(g.input("a", [5, 1, 2, 3]), g.input("b", [4, 3, 6]))), [5, 4, 2, 6])
        let bad = g.parameter("wbad", [4, 5, 3, 3])
        g.currentLabel = "backbone.conv1"
        XCTAssertThrowsError(try g.conv2d(x, bad)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("conv2d") && m.contains("backbone.conv1") && m.contains("[4, 5, 3, 3]"), m)
        }
        XCTAssertThrowsError(try g.add(g.input("p", [2, 3]), g.input("q", [4, 3]))) { XCTAssertTrue("\($0)".contains("broadcast")) }
        XCTAssertThrowsError(try g.reshape(x, [7, 5])) { XCTAssertTrue("\($0)".contains("element count")) }
        XCTAssertThrowsError(try g.matmul(g.input("m", [2, 3]), g.input("n", [4, 5]))) { XCTAssertTrue("\($0)".contains("inner")) }
    }

    func testPrinterDotAndHash() throws {
        func build(label: String?) throws -> Graph {
            let g = Graph()
            g.currentLabel = label
            let x = g.input("x", [1, 4]), w = g.parameter("w", [3, 4])
            g.output("y", try g.relu(g.linear(x, w)))
            return g
        }
        let a = try build(label: nil), b = try build(label: "layer")
        XCTAssertEqual(a.structuralHash, b.structuralHash, "labels do not enter the hash")
        XCTAssertTrue(a.text.contains("%2 = matmul(%0, %1) transA=false transB=true : [1, 3]"), a.text)
        XCTAssertTrue(a.text.contains("output \"y\" = %3"))
        XCTAssertTrue(a.dot.hasPrefix("digraph") && a.dot.contains("n0 -> n2"))
        let c = Graph()
        c.output("y", try c.relu(c.linear(c.input("x", [1, 4]), c.parameter("w", [5, 4]))))
        XCTAssertNotEqual(a.structuralHash, c.structuralHash, "shapes enter the hash")
        try a.verify()
    }

    func testAutodiffBuildsOnlyWhatIsNeeded() throws {
        let g = Graph()
        let x = g.input("x", [2, 3])
        let w1 = g.parameter("w1", [3, 3]), w2 = g.parameter("w2", [3, 3])
        let h = try g.linear(x, w1)
        let loss = try g.sumAll(g.linear(h, w2))
        let n0 = g.nodes.count
        let grads = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: [w2])
        XCTAssertNotNil(grads[0])
        XCTAssertEqual(g.shape(grads[0]!), [3, 3])
        // only the path to w2: no gradient flows to h or x
        XCTAssertLessThan(g.nodes.count - n0, 8)
        try g.verify()
    }

    func testAttentionShapesAndErrors() throws {
        let g = Graph()
        let q = g.input("q", [2, 3, 7, 8]), k = g.input("k", [2, 3, 12, 8]), v = g.input("v", [2, 3, 12, 5])
        let plain = try g.attention(q: q, k: k, v: v, scale: 0.25)
        XCTAssertEqual(g.shape(plain), [2, 3, 7, 5])
        let rh = g.input("rh", [2, 3, 7, 3]), rw = g.input("rw", [2, 3, 7, 4])
        let rel = try g.attention(q: q, k: k, v: v, relH: rh, relW: rw, scale: 0.25)
        XCTAssertEqual(g.shape(rel), [2, 3, 7, 5])
        XCTAssertTrue(g.text.contains("= attention(%0, %1, %2, %4, %5) scale=0.25 : [2, 3, 7, 5]"), g.text)
        XCTAssertThrowsError(try g.attention(q: q, k: k, v: v, relH: rh, relW: rh, scale: 1)) {
            XCTAssertTrue("\($0)".contains("multiply to the 12 keys"), "\($0)")
        }
        XCTAssertThrowsError(try g.attention(q: q, k: v, v: v, scale: 1)) { XCTAssertTrue("\($0)".contains("channels"), "\($0)") }
        XCTAssertThrowsError(try g.attention(q: q, k: g.input("kb", [1, 3, 12, 8]), v: v, scale: 1)) {
            XCTAssertTrue("\($0)".contains("batch"), "\($0)")
        }
        XCTAssertThrowsError(try g.attention(q: q, k: k, v: v, relH: rh, scale: 1))
        XCTAssertThrowsError(try g.add(.attention(scale: 1), [q, k])) { XCTAssertTrue("\($0)".contains("operands"), "\($0)") }
        try g.verify()
    }
}
