import Pipeline
import Tensor
import XCTest

final class ExperimentSpecTests: XCTestCase {
    func testTypesOrderAndOverrides() throws {
        var s = try ExperimentSpec.parse(text: """
        experiment: t
        vars: {root: /data}
        stages:
          b: {kind: k, params: {lr: 1.0e-3, n: 3, on: true, name: "007", path: "${root}/x", list: [1, 2.5]}}
          a: {kind: k, inputs: [b]}
        """, path: "t.yaml")
        XCTAssertEqual(s.stages.map(\.name), ["b", "a"], "declaration order")
        let p = try s.instances()[0].params
        XCTAssertEqual(p["lr"], .double(0.001))
        XCTAssertEqual(p["n"], .int(3))
        XCTAssertEqual(p["on"], .bool(true))
        XCTAssertEqual(p["name"], .string("007"), "quoted scalars stay strings")
        XCTAssertEqual(p["path"], .string("/data/x"))
        try s.apply(overrides: ["b.lr=0.01", "b.opt.beta=0.9", "vars.root=/other"])
        let q = try s.instances()[0].params
        XCTAssertEqual(q["lr"], .double(0.01))
        XCTAssertEqual(q["opt"], .map(["beta": .double(0.9)]))
        XCTAssertEqual(q["path"], .string("/other/x"))
    }

    func testCanonicalKeyIgnoresSpellingAndOrder() throws {
        let a = try ExperimentSpec.parse(text: "experiment: t\nstages:\n  s: {kind: k, params: {lr: 0.001, n: 2}}", path: "a").instances()[0]
        let b = try ExperimentSpec.parse(text: "experiment: t\nstages:\n  s: {kind: k, params: {n: 2.0, lr: 1e-3}}", path: "b").instances()[0]
        func key(_ i: StageInstance) -> StageKey { StageKey(kind: "k", code: "1", engine: "e", params: i.params, inputs: [:], external: [:]) }
        XCTAssertEqual(key(a).fingerprint, key(b).fingerprint)
        var c = key(a)
        c.params["lr"] = .double(0.002)
        XCTAssertNotEqual(c.fingerprint, key(a).fingerprint)
        XCTAssertEqual(c.changes(since: key(a)), ["param lr: 0.001 → 0.002"])
    }

    func testErrorsNameThePlace() {
        func message(_ text: String) -> String {
            do { _ = try ExperimentSpec.parse(text: text, path: "g.yaml").instances(); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("stages: {a: {kind: k}}").contains("missing key \"experiment\""))
        XCTAssertTrue(message("experiment: x\nstages:\n  a: {kind: k, inputs: [zz]}").contains("input \"zz\" is not a stage"))
        XCTAssertTrue(message("experiment: x\nstages:\n  a: {kind: k, inputs: [b]}\n  b: {kind: k}").contains("declared after"))
        XCTAssertTrue(message("experiment: x\nstages:\n  a: {kind: k, params: {s: $nope}}").contains("$nope"))
        XCTAssertTrue(message("experiment: x\nstages:\n  a: {kind: k, colour: red}").contains("line 3"), message("experiment: x\nstages:\n  a: {kind: k, colour: red}"))
        XCTAssertTrue(message("experiment: x\nstages: [").contains("not valid YAML"))
        XCTAssertThrowsError(try { var s = try ExperimentSpec.parse(text: "experiment: x\nstages: {a: {kind: k}}", path: "g"); try s.apply(overrides: ["zz.p=1"]) }())
    }
}
