import Foundation
import GoldenCheck
import Tensor
import TestSupport
import XCTest

final class GoldenRunnerTests: XCTestCase {
    static let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/golden/manifest.json").standardized.path

    func testShippedOpsGroupPasses() throws {
        guard FileManager.default.fileExists(atPath: Self.shipped) else { throw XCTSkip("no ../shared/golden here") }
        var lines: [String] = []
        let s = try GoldenRunner.run(manifest: Self.shipped, group: "ops", caseName: nil, print: { lines.append($0) })
        XCTAssertEqual(s.failed, 0, lines.filter { !$0.contains("PASS") }.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(s.passed, 57)
        XCTAssertEqual(lines.last, "\(s.passed) passed, 0 failed")
    }

    /// A manifest of the same format with other shapes, written here with references from plain
    /// Double loops: the runner must compute the function, not replay the shipped files.
    func testOtherShapesManifest() throws {
        let dir = NSTemporaryDirectory() + "samdg-golden-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = SeededRNG(seed: 99)
        func save(_ name: String, _ t: Tensor) throws -> String { try NPY.write(t, to: "\(dir)/\(name).npy"); return "\(name).npy" }
        var cases: [[String: Any]] = []

        // linear with other shapes: y = x·wᵀ + b, grads with a cotangent
        let (n, i, o) = (5, 7, 3)
        let x = rng.tensor([n, i]), w = rng.tensor([o, i]), b = rng.tensor([o]), ct = rng.tensor([n, o])
        var y = [Float](), gx = [Float](repeating: 0, count: n * i), gw = [Float](repeating: 0, count: o * i), gb = [Float](repeating: 0, count: o)
        for r in 0..<n { for c in 0..<o {
            var s = Double(b.floats[c])
            for k in 0..<i { s += Double(x.floats[r * i + k]) * Double(w.floats[c * i + k]) }
            y.append(Float(s))
            let g = ct.floats[r * o + c]
            gb[c] += g
            for k in 0..<i { gx[r * i + k] += g * w.floats[c * i + k]; gw[c * i + k] += g * x.floats[r * i + k] }
        } }
        cases.append(["name": "linear_other", "group": "ops", "op": "linear", "attrs": [:] as [String: Any], "tol": 1e-5, "grad_tol": 1e-5,
                      "inputs": ["x": try save("x", x), "weight": try save("w", w), "bias": try save("b", b)],
                      "outputs": ["y": try save("y", Tensor(shape: [n, o], y))], "cotangents": ["y": try save("ct", ct)],
                      "grads": ["x": try save("gx", Tensor(shape: [n, i], gx)), "weight": try save("gw", Tensor(shape: [o, i], gw)),
                                "bias": try save("gb", Tensor(shape: [o], gb))]])
        // softmax over a middle axis
        let s = rng.tensor([2, 4, 3])
        var sm = [Float](repeating: 0, count: 24)
        for a in 0..<2 { for c in 0..<3 {
            let vals = (0..<4).map { Double(s.floats[(a * 4 + $0) * 3 + c]) }
            let m = vals.max()!, e = vals.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            for k in 0..<4 { sm[(a * 4 + k) * 3 + c] = Float(e[k] / z) }
        } }
        cases.append(["name": "softmax_mid", "group": "ops", "op": "softmax", "attrs": ["dim": 1], "tol": 1e-5,
                      "inputs": ["x": try save("s", s)], "outputs": ["y": try save("sm", Tensor(shape: [2, 4, 3], sm))]])
        // a deliberately wrong reference must FAIL, and an unknown op is UNSUPPORTED (counted as failed)
        cases.append(["name": "relu_wrong", "group": "ops", "op": "relu", "tol": 1e-5,
                      "inputs": ["x": try save("r", Tensor(shape: [2], [-1, 2]))], "outputs": ["y": try save("rw", Tensor(shape: [2], [0, 3]))]])
        cases.append(["name": "mystery", "group": "ops", "op": "fft2", "tol": 1e-5, "inputs": ["x": "r.npy"], "outputs": [:] as [String: Any]])
        let manifest = "\(dir)/manifest.json"
        try JSONSerialization.data(withJSONObject: ["cases": cases]).write(to: URL(fileURLWithPath: manifest))
        var lines: [String] = []
        let sum = try GoldenRunner.run(manifest: manifest, group: nil, caseName: nil, print: { lines.append($0) })
        XCTAssertEqual(sum.passed, 2, lines.joined(separator: "\n"))
        XCTAssertEqual(sum.failed, 2)
        XCTAssertTrue(lines.contains { $0.hasPrefix("relu_wrong") && $0.contains("FAIL") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("mystery") && $0.contains("UNSUPPORTED") })
        XCTAssertEqual(lines.last, "2 passed, 2 failed")
    }

    func testBadManifestsGiveClearErrors() throws {
        let path = NSTemporaryDirectory() + "samdg-bad-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try GoldenRunner.run(manifest: path, group: nil, caseName: nil, print: { _ in })) {
            XCTAssertTrue("\($0)".contains("not valid JSON"), "\($0)")
        }
        try "{\"cases\": 3}".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try GoldenRunner.run(manifest: path, group: nil, caseName: nil, print: { _ in })) {
            XCTAssertTrue("\($0)".contains("\"cases\" array"), "\($0)")
        }
        // a case whose input file is missing fails with the path named, and the run goes on
        try "{\"cases\": [{\"name\": \"x\", \"group\": \"ops\", \"op\": \"relu\", \"inputs\": {\"x\": \"nope.npy\"}, \"outputs\": {}}]}"
            .write(toFile: path, atomically: true, encoding: .utf8)
        var lines: [String] = []
        let s = try GoldenRunner.run(manifest: path, group: nil, caseName: nil, print: { lines.append($0) })
        XCTAssertEqual(s.failed, 1)
        XCTAssertTrue(lines[0].contains("nope.npy"), lines[0])
    }
}
