import Compiler
import Graph
import Runtime
import Tensor
import TestSupport
import XCTest

/// Plans are cached by structure: the same graph rebuilt compiles once; any change in an op, an
/// attribute, a shape, a constant or the fuse flag compiles anew.
final class PlanCacheTests: XCTestCase {
    func build(_ n: Int = 6, scale: Float = 2, bias: Float = 0.5) throws -> Graph {
        let g = Graph()
        let x = g.input("x", [n, 4]), w = g.parameter("w", [4, 3])
        g.output("y", try g.add(g.affine(g.matmul(x, w), scale: scale), g.constant(bias, [n, 3])))
        return g
    }

    func testSameStructureHitsOtherwiseMisses() throws {
        let cache = PlanCache.shared
        cache.removeAll()
        let p1 = try Compiler.compile(try build())
        XCTAssertEqual([cache.hits, cache.misses], [0, 1])
        let p2 = try Compiler.compile(try build())          // a new Graph object, same structure
        XCTAssertEqual([cache.hits, cache.misses], [1, 1])
        XCTAssertEqual(p1.description, p2.description)
        for g in [try build(7), try build(scale: 3), try build(bias: 0.25)] { _ = try Compiler.compile(g) }
        _ = try Compiler.compile(try build(), fuse: false)
        XCTAssertEqual([cache.hits, cache.misses], [1, 5])
        // a cached plan computes what a fresh one does
        let x = Tensor(shape: [6, 4], (0..<24).map { Float($0) / 7 }), w = Tensor(shape: [4, 3], (0..<12).map { Float($0) / 5 - 1 })
        let y1 = try Executor(p1).run(["x": x, "w": w])["y"]!, y2 = try Executor(p2).run(["x": x, "w": w])["y"]!
        XCTAssertEqual(y1.scalars, y2.scalars)
        var dot: Float = 0
        for c in 0..<4 { dot += Float(c) / 7 * (Float(c * 3) / 5 - 1) }   // x[0, c]·w[c, 0]
        XCTAssertEqual(y1.scalars[0], 2 * dot + 0.5, accuracy: 1e-5)
    }

    func testCapacityEvictsLeastRecentlyUsed() throws {
        let cache = PlanCache.shared
        cache.removeAll()
        let saved = cache.capacity
        defer { cache.capacity = saved }
        cache.capacity = 2
        _ = try Compiler.compile(try build(1))
        _ = try Compiler.compile(try build(2))
        _ = try Compiler.compile(try build(1))               // hit: 1 is now the most recent
        _ = try Compiler.compile(try build(3))               // evicts 2
        XCTAssertEqual(cache.count, 2)
        _ = try Compiler.compile(try build(1))
        XCTAssertEqual(cache.hits, 2)
        _ = try Compiler.compile(try build(2))
        XCTAssertEqual(cache.misses, 4)
    }
}
