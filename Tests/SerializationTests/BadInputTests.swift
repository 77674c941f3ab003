import XCTest
import Graph
import Tensor

/// Corrupt, truncated and hand-made graph files are rejected with a `SamdgError` that names the
/// node and what was expected, never a crash.
final class BadInputTests: XCTestCase {
    /// input x [3, 4] → relu, the smallest sensible hand-made graph.
    let x = Wire.node("input", shape: [3, 4], label: "stem", attr: Wire.leaf("x", [3, 4]))
    let reluKind = 3

    func testHandMadeGraphReads() throws {
        let relu = Wire.node("unary", operands: [0], shape: [3, 4], attr: Wire.unary(kind: reluKind))
        let affine = Wire.node("unary", operands: [1], shape: [3, 4], attr: Wire.unary(kind: 18, scale: 2, shift: -1))
        let g = try Graph.deserialize(Wire.graph(nodes: [x, relu, affine], outputs: [("y", 2)]))
        XCTAssertEqual(g.text, """
            %0 = input() "x" : [3, 4]  # stem
            %1 = relu(%0) : [3, 4]
            %2 = affine(2.0,-1.0)(%1) : [3, 4]
            output "y" = %2

            """)
    }

    func testUnknownOpName() {
        let bad = Wire.node("frobnicate", operands: [0], shape: [3, 4], attr: Wire.unary(kind: reluKind))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, bad]), place: "m.samdg"),
                         place: "m.samdg node %1 (frobnicate)", contains: ["unknown op \"frobnicate\"", "expected one of", "conv2d"])
        let unnamed = Wire.node(nil, operands: [0], shape: [3, 4])
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, unnamed])), place: "<graph> node %1", contains: ["missing op name"])
    }

    func testOperandOutOfRange() {
        for (id, expect) in [(5, "operand %5 does not refer to an earlier node (expected %0...%0)"),
                             (-1, "operand %-1 does not refer"), (1, "operand %1 does not refer")] {
            let bad = Wire.node("unary", operands: [id], shape: [3, 4], attr: Wire.unary(kind: reluKind))
            assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, bad])), place: "<graph> node %1 (relu)", contains: [expect])
        }
        let first = Wire.node("unary", operands: [0], shape: [3, 4], attr: Wire.unary(kind: reluKind))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [first])), place: "<graph> node %0 (relu)",
                         contains: ["the first node can have no operands"])
    }

    func testWrongArity() {
        let bad = Wire.node("binary", operands: [0], shape: [3, 4], attr: Wire.binary(kind: 1))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, bad])), place: "<graph> node %1 (add)",
                         contains: ["expected 2 operands, got 1"])
    }

    func testWrongStoredShape() {
        let bad = Wire.node("unary", operands: [0], shape: [2, 3], label: "head", attr: Wire.unary(kind: reluKind))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, bad])), place: "<graph> node %1 (relu in head)",
                         contains: ["stored shape [2, 3] but operands give [3, 4]"])
        let negative = Wire.node("input", shape: [3, -4], attr: Wire.leaf("x", [3, -4]))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [negative])), place: "<graph> node %0 (input)",
                         contains: ["[3, -4] has a dimension outside"])
    }

    func testShapeInferenceFailureNamesNode() {
        let y = Wire.node("input", shape: [5], attr: Wire.leaf("y", [5]))
        let bad = Wire.node("binary", operands: [0, 1], shape: [3, 4], label: "blk", attr: Wire.binary(kind: 1))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, y, bad])), place: "<graph> node %2 (add in blk)",
                         contains: ["shapes do not broadcast", "[3, 4], [5]"])
        let w = Wire.node("parameter", shape: [2, 3, 3, 3], attr: Wire.leaf("w", [2, 3, 3, 3]))
        let conv = Wire.node("conv2d", operands: [0, 1], shape: [1, 2, 1, 1], attr: Wire.conv())
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, w, conv])), place: "<graph> node %2 (conv2d)",
                         contains: ["conv2d needs NCHW input and OIHW weight"])
    }

    func testMissingOrMismatchedAttributes() {
        let img = Wire.node("input", shape: [1, 3, 8, 8], attr: Wire.leaf("img", [1, 3, 8, 8]))
        let w = Wire.node("parameter", shape: [2, 3, 3, 3], attr: Wire.leaf("w", [2, 3, 3, 3]))
        func expectError(_ node: Wire, _ place: String, _ message: String, line: UInt = #line) {
            assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [img, w, node])), place: place, contains: [message], line: line)
        }
        expectError(Wire.node("conv2d", operands: [0, 1], shape: [1, 2, 6, 6]),
                    "<graph> node %2 (conv2d)", "expected \"conv\" attributes, found none")
        expectError(Wire.node("conv2d", operands: [0, 1], shape: [1, 2, 6, 6], attr: Wire.leaf("z", [])),
                    "<graph> node %2 (conv2d)", "expected \"conv\" attributes, found \"leaf\"")
        expectError(Wire.node("conv2d", operands: [0, 1], shape: [1, 2, 6, 6], attr: (23, Wire())),
                    "<graph> node %2 (conv2d)", "missing attribute geometry")
        expectError(Wire.node("conv2d", operands: [0, 1], shape: [1, 2, 6, 6], attr: Wire.conv(stride: 0)),
                    "<graph> node %2 (conv2d)", "attribute stride_h = 0, expected at least 1")
        expectError(Wire.node("max_pool2d", operands: [0], shape: [1, 3, 4, 4], attr: Wire.pool(kernel: nil, stride: 2, padding: 0)),
                    "<graph> node %2 (max_pool2d)", "missing attribute kernel")
        expectError(Wire.node("unary", operands: [0], shape: [1, 3, 8, 8], attr: Wire.unary(kind: 18, scale: 2)),
                    "<graph> node %2 (unary)", "missing attribute shift (of affine)")
        expectError(Wire.node("unary", operands: [0], shape: [1, 3, 8, 8], attr: (12, Wire())),
                    "<graph> node %2 (unary)", "missing attribute kind")
        expectError(Wire.node("input", shape: [1], attr: (10, Wire())), "<graph> node %2 (input)", "missing attribute name")
    }

    func testUnknownEnumValues() {
        let unary = Wire.node("unary", operands: [0], shape: [3, 4], attr: Wire.unary(kind: 99))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, unary])), place: "<graph> node %1 (unary)",
                         contains: ["unknown unary function value 99", "UNARY_RELU", "UNARY_CLAMP"])
        let unset = Wire.node("unary", operands: [0], shape: [3, 4], attr: Wire.unary(kind: 0))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, unset])), place: "<graph> node %1 (unary)",
                         contains: ["unknown unary function value 0 (UNARY_UNSPECIFIED)"])
        let binary = Wire.node("binary", operands: [0, 0], shape: [3, 4], attr: Wire.binary(kind: 42))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, binary])), place: "<graph> node %1 (binary)",
                         contains: ["unknown binary function value 42", "BINARY_ADD"])
    }

    func testVersionAndCounts() {
        assertSamdgError(try Graph.deserialize(Wire.graph(version: nil, nodes: [x])), place: "<graph>",
                         contains: ["no format version"])
        assertSamdgError(try Graph.deserialize(Wire.graph(version: 2, nodes: [x])), place: "<graph>",
                         contains: ["format version 2 is not supported", "reads version 1"])
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x], counts: .omitted)), place: "<graph>",
                         contains: ["truncated: the node and output counts are missing"])
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x], counts: .claimed(nodes: 3, outputs: 0))),
                         place: "<graph>", contains: ["expected 3 nodes and 0 outputs, read 1 and 0"])
        assertSamdgError(try Graph.deserialize([]), place: "<graph>", contains: ["empty"])
    }

    func testBadOutputsAndLeaves() {
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x], outputs: [("y", 1)])), place: "<graph> output #0",
                         contains: ["output \"y\" refers to node %1, expected %0...%0"])
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x], outputs: [("y", 0), ("y", 0)])),
                         place: "<graph> output #1", contains: ["output name \"y\" appears twice"])
        let again = Wire.node("input", shape: [3, 4], attr: Wire.leaf("x", [3, 4]))
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [x, again])), place: "<graph> node %1 (input)",
                         contains: ["duplicate leaf name \"x\""])
        var badUTF8 = Wire.node("input", shape: [3, 4], attr: Wire.leaf("y", [3, 4]))
        badUTF8.data(4, [0x66, 0xff, 0xfe])
        assertSamdgError(try Graph.deserialize(Wire.graph(nodes: [badUTF8])), place: "<graph> node %0",
                         contains: ["label is not valid UTF-8"])
    }

    /// Every proper prefix of a real file is rejected (mid-message cuts by protobuf-c, cuts at a
    /// field boundary by the node/output counts).
    func testEveryTruncationIsRejected() throws {
        let bytes = try Fixtures.attention(gradients: true).serialized()
        for n in 0..<bytes.count {
            do {
                _ = try Graph.deserialize(Array(bytes.prefix(n)))
                XCTFail("a \(n)-byte prefix of \(bytes.count) bytes was accepted")
                return
            } catch is SamdgError {
            } catch {
                XCTFail("\(n)-byte prefix: expected a SamdgError, got \(error)")
                return
            }
        }
        assertSamdgError(try Graph.deserialize(Array(bytes.prefix(bytes.count / 2))), place: "<graph>",
                         contains: ["truncated or corrupt"])
    }

    func testRandomGarbageIsRejected() {
        var rng = SplitMix64(seed: 0x5eed)
        for trial in 0..<2000 {
            let n = 1 + Int(rng.next() % 600)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            do {
                _ = try Graph.deserialize(bytes)
                XCTFail("random buffer #\(trial) (\(n) bytes) was accepted")
            } catch is SamdgError {
            } catch {
                XCTFail("random buffer #\(trial): expected a SamdgError, got \(error)")
            }
        }
    }

    /// Flipping bits of a real file either gives a clear error or a graph that still verifies.
    func testBitFlipsNeverCrash() throws {
        let good = try Fixtures.convNet(gradients: true).serialized()
        var rng = SplitMix64(seed: 42)
        var rejected = 0
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes[i] ^= UInt8(1) << UInt8(rng.next() % 8)
            }
            do {
                let g = try Graph.deserialize(bytes)
                XCTAssertNoThrow(try g.verify())
            } catch is SamdgError {
                rejected += 1
            } catch {
                XCTFail("expected a SamdgError, got \(error)")
            }
        }
        XCTAssertGreaterThan(rejected, 1000)
    }
}


