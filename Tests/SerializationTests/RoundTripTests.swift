import XCTest
import Foundation
import Graph
import Primitives
import Tensor

/// Graph → bytes → Graph keeps everything: ops, attributes, wiring, shapes, labels, outputs.
final class RoundTripTests: XCTestCase {
    /// Round-trips `g` and checks the copy is the same graph; returns the copy.
    @discardableResult
    func assertRoundTrip(_ g: Graph, file: StaticString = #filePath, line: UInt = #line) throws -> Graph {
        let bytes = try g.serialized()
        let h = try Graph.deserialize(bytes)
        XCTAssertEqual(h.structuralHash, g.structuralHash, file: file, line: line)
        XCTAssertEqual(h.text, g.text, file: file, line: line)
        XCTAssertEqual(h.nodes, g.nodes, "ops, operands, shapes and labels", file: file, line: line)
        XCTAssertEqual(h.outputs.map(\.name), g.outputs.map(\.name), file: file, line: line)
        XCTAssertEqual(h.outputs.map(\.value), g.outputs.map(\.value), file: file, line: line)
        XCTAssertNil(h.currentLabel, "loading must not leave a label set for later builders", file: file, line: line)
        XCTAssertEqual(try h.serialized(), bytes, "re-encoding gives the same bytes", file: file, line: line)
        return h
    }

    func testConvNetForward() throws { try assertRoundTrip(Fixtures.convNet(gradients: false)) }
    func testConvNetWithBackward() throws { try assertRoundTrip(Fixtures.convNet(gradients: true)) }
    func testAttentionForward() throws { try assertRoundTrip(Fixtures.attention(gradients: false)) }
    func testAttentionWithBackward() throws { try assertRoundTrip(Fixtures.attention(gradients: true)) }
    func testOpZoo() throws { try assertRoundTrip(Fixtures.opZoo()) }
    func testEmptyGraph() throws { try assertRoundTrip(Graph()) }

    func testFixturesCoverEveryOp() throws {
        let graphs = try [Fixtures.convNet(gradients: true), Fixtures.attention(gradients: true), Fixtures.opZoo()]
        let ops = graphs.flatMap { $0.nodes.map(\.op) }
        let cases = Set(ops.map(Fixtures.caseName))
        XCTAssertEqual(cases.count, Fixtures.opCaseCount, "Op cases covered: \(cases.sorted())")
        var unaries = Set<String>(), binaries = Set<BinaryFn>(), reduces = Set<ReduceFn>()
        for op in ops {
            switch op {
            case .unary(let f), .unaryGrad(let f): unaries.insert(Fixtures.unaryName(f))
            case .binary(let f): binaries.insert(f)
            case .reduce(let f, _, _): reduces.insert(f)
            default: break
            }
        }
        XCTAssertEqual(unaries.count, Fixtures.unaryCaseCount, "unary functions covered: \(unaries.sorted())")
        XCTAssertEqual(binaries, Set(BinaryFn.allCases))
        XCTAssertEqual(reduces, Set(ReduceFn.allCases))
        let labels = Set(graphs.flatMap { $0.nodes.compactMap(\.label) })
        XCTAssertTrue(labels.contains("") && labels.contains("∇blocks.0.attn") && labels.contains("zoo/ünïcode ∇"))
    }

    /// A loaded forward graph is an ordinary graph: differentiating it gives the same backward
    /// graph as differentiating the original.
    func testLoadedGraphDifferentiatesLikeTheOriginal() throws {
        let original = try Fixtures.attention(gradients: false)
        let loaded = try assertRoundTrip(original)
        for g in [original, loaded] {
            let loss = g.outputValue("loss")!
            let grads = try Autodiff.gradients(g, seeds: [(loss, g.constant(1, []))], wrt: g.parameters.map(\.value))
            for (p, d) in zip(g.parameters, grads) { g.output("grad/\(p.name)", d!) }
        }
        XCTAssertEqual(loaded.structuralHash, original.structuralHash)
        XCTAssertEqual(loaded.text, original.text)
    }

    func testNaNConstantKeepsItsBits() throws {
        let g = Graph()
        let payload = Float(bitPattern: 0x7fc0_1234)
        _ = g.constant(payload, [2])
        _ = g.constant(-.nan, [])
        let h = try Graph.deserialize(g.serialized())
        for (a, b) in zip(g.nodes, h.nodes) {
            guard case .constant(let x, _) = a.op, case .constant(let y, _) = b.op else { return XCTFail("not constants") }
            XCTAssertEqual(x.bitPattern, y.bitPattern)
        }
        XCTAssertEqual(h.structuralHash, g.structuralHash)
    }

    func testFileWriteAndLoad() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-serialization-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nested/convnet.samdg").path
        let g = try Fixtures.convNet(gradients: true)
        try g.write(to: path)
        let h = try Graph.load(path: path)
        XCTAssertEqual(h.structuralHash, g.structuralHash)
        XCTAssertEqual(h.text, g.text)
        // Overwriting is atomic and leaves no temporary files behind.
        try Fixtures.opZoo().write(to: path)
        XCTAssertEqual(try Graph.load(path: path).text, try Fixtures.opZoo().text)
        let left = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        XCTAssertEqual(left, ["convnet.samdg"])
    }

    func testLoadErrorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-serialization-bad-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("missing.samdg").path
        assertSamdgError(try Graph.load(path: missing), place: missing, contains: ["cannot read graph file"])
        let corrupt = dir.appendingPathComponent("corrupt.samdg").path
        var bytes = try Fixtures.opZoo().serialized()
        bytes.removeLast(5)
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))
        assertSamdgError(try Graph.load(path: corrupt), place: corrupt, contains: [])
    }

    func testWriterRejectsNULInNames() throws {
        let g = Graph()
        g.input("a\u{0}b", [1])
        assertSamdgError(try g.serialized(), place: "<graph> node %0 (input)", contains: ["NUL character"])
    }
}

/// Asserts `expression` throws a `SamdgError` whose place starts with `place` and whose
/// message holds every string in `contains`.
func assertSamdgError<T>(_ expression: @autoclosure () throws -> T, place: String, contains: [String],
                         file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expression()
        XCTFail("expected a SamdgError at \(place)", file: file, line: line)
    } catch let e as SamdgError {
        XCTAssertTrue(e.place.hasPrefix(place), "place \"\(e.place)\" does not start with \"\(place)\"", file: file, line: line)
        for s in contains {
            XCTAssertTrue(e.message.contains(s), "message \"\(e.message)\" lacks \"\(s)\"", file: file, line: line)
        }
    } catch {
        XCTFail("expected a SamdgError, got \(error)", file: file, line: line)
    }
}

#if os(Linux)
/// protobuf-c messages are C memory that ARC does not see: check that repeated writes and
/// reads (good and corrupt) give back what they take, by the resident set size.
final class MemoryTests: XCTestCase {
    func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        return Int(statm.split(separator: " ")[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testRoundTripsDoNotLeak() throws {
        let g = try Fixtures.attention(gradients: true)
        let good = try g.serialized()
        var corrupt = good
        corrupt[corrupt.count / 2] ^= 0xff
        let nul = Graph()
        nul.input("a\u{0}", [1])
        func cycle() {
            _ = try? Graph.deserialize(g.serialized())
            _ = try? Graph.deserialize(Array(good.prefix(good.count - 3)))   // unpack fails
            _ = try? Graph.deserialize(Array(good.prefix(good.count - 4)))
            _ = try? Graph.deserialize(corrupt)
            _ = try? nul.serialized()                                        // writer error mid-tree
        }
        for _ in 0..<50 { cycle() }
        let before = try residentBytes()
        for _ in 0..<500 { cycle() }
        let after = try residentBytes()
        // The unpacked tree of this graph is several times its packed size; leaking it (or the
        // writer's tree) 500 times would grow the process by tens of megabytes.
        XCTAssertLessThan(after - before, 8 << 20, "resident set grew from \(before) to \(after) bytes (\(good.count)-byte graph)")
    }
}
#endif
