import Foundation
import Pipeline
import Tensor
import XCTest

final class PipelineRunnerTests: XCTestCase {
    func runner(_ store: ContentStore, _ log: RunLog, failOnce: Bool = false) -> PipelineRunner {
        let r = PipelineRunner(store: store, engineVersion: "test", runners: [
            SourceStage(log: log), FilterStage(log: log), SumStage(log: log, failOnce: failOnce)])
        r.log = { _ in }
        return r
    }

    func spec(_ overrides: [String] = []) throws -> ExperimentSpec {
        var s = try ExperimentSpec.parse(text: toyGraph, path: "toy.yaml")
        try s.apply(overrides: overrides)
        return s
    }

    func testSweepExpandsAndWiresInstances() throws {
        let ids = try spec().instances().map(\.id)
        XCTAssertEqual(ids, ["src[seed=1]", "src[seed=2]", "filter[seed=1]", "filter[seed=2]", "total[seed=1]", "total[seed=2]"])
        let f2 = try spec().instances().first { $0.id == "filter[seed=2]" }!
        XCTAssertEqual(f2.inputs.map(\.id), ["src[seed=2]"])
        XCTAssertEqual(try spec().instances().first { $0.id == "src[seed=2]" }!.params["seed"], .int(2))
    }

    func testSecondRunIsCachedAndProducesTheSameOutputs() throws {
        let store = try tempStore(), log = RunLog()
        let first = try runner(store, log).run(spec())
        XCTAssertEqual(log.runs.count, 6)
        let second = try runner(store, log).run(spec())
        XCTAssertEqual(log.runs.count, 6, "nothing reruns")
        XCTAssertTrue(second.allSatisfy { $0.outcome == .cached })
        XCTAssertEqual(first.map(\.record.fingerprint), second.map(\.record.fingerprint))
        let sum = try String(contentsOfFile: store.objectPath(second.last!.record.outputs["sum"]!.digest), encoding: .utf8)
        let expected: Double = 6 + 8 + 10 + 12 + 14 + 16 + 18   // seed 2: values 0, 2, …, 18 that are ≥ 4.5
        XCTAssertEqual(sum, "\(expected) resumed=false")
    }

    func testParamChangeRerunsOnlyDownstreamAndStatusSaysWhy() throws {
        let store = try tempStore(), log = RunLog()
        try runner(store, log).run(spec())
        log.runs.removeAll()
        let changed = try spec(["filter.threshold=7.5"])
        let st = try runner(store, log).status(changed)
        XCTAssertEqual(st.first { $0.instance == "src[seed=1]" }?.state, .cached)
        let f1 = st.first { $0.instance == "filter[seed=1]" }!
        XCTAssertEqual(f1.state, .stale)
        XCTAssertEqual(f1.reasons, ["param threshold: 4.5 → 7.5"])
        XCTAssertEqual(st.first { $0.instance == "total[seed=1]" }?.state, .waiting)
        let text = try runner(store, log).explain(changed, stage: "filter")
        XCTAssertTrue(text.contains("changed: param threshold: 4.5 → 7.5"), text)
        try runner(store, log).run(changed)
        XCTAssertEqual(log.runs.sorted(), ["filter[seed=1]", "filter[seed=2]", "total[seed=1]", "total[seed=2]"])
    }

    func testUnchangedOutputsStopDownstreamReruns() throws {
        let store = try tempStore(), log = RunLog()
        try runner(store, log).run(spec())
        log.runs.removeAll()
        // 4.5 → 4.7 keeps exactly the same values for both seeds: filter reruns, total does not.
        let results = try runner(store, log).run(spec(["filter.threshold=4.7"]))
        XCTAssertEqual(log.runs.sorted(), ["filter[seed=1]", "filter[seed=2]"])
        XCTAssertEqual(results.first { $0.instance == "total[seed=1]" }?.outcome, .cached)
    }

    func testFailedStageLeavesNoRecordAndResumesFromItsWorkFolder() throws {
        let store = try tempStore(), log = RunLog()
        XCTAssertThrowsError(try runner(store, log, failOnce: true).run(spec())) { e in
            XCTAssertTrue("\(e)".contains("stage total[seed=1]"), "\(e)")
        }
        let st = try runner(store, log).status(spec())
        XCTAssertEqual(st.first { $0.instance == "filter[seed=1]" }?.state, .cached, "finished stages stay")
        XCTAssertEqual(st.first { $0.instance == "total[seed=1]" }?.state, .stale)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp"), [], "no half outputs left")
        // seed 1 resumes and finishes; seed 2 now crashes once in turn, then resumes
        XCTAssertThrowsError(try runner(store, log, failOnce: true).run(spec()))
        let results = try runner(store, log, failOnce: true).run(spec())
        XCTAssertEqual(results.first { $0.instance == "total[seed=1]" }?.outcome, .cached)
        let sum = try String(contentsOfFile: store.objectPath(results.first { $0.instance == "total[seed=2]" }!.record.outputs["sum"]!.digest), encoding: .utf8)
        XCTAssertTrue(sum.hasSuffix("resumed=true"), "the rerun found the checkpoint of the failed one")
    }

    func testLockRefusesASecondRun() throws {
        let store = try tempStore()
        let held = try StoreLock(path: store.root + "/lock")
        XCTAssertThrowsError(try runner(store, RunLog()).run(spec())) { e in
            XCTAssertTrue("\(e)".contains("in use by another samdg run (pid \(getpid()))"), "\(e)")
        }
        withExtendedLifetime(held) {}
    }

    func testGarbageCollectionKeepsWhatRecordsNeed() throws {
        let store = try tempStore(), log = RunLog()
        try runner(store, log).run(spec())
        try runner(store, log).run(spec(["filter.threshold=7.5"]))
        let junk = try store.makeTempDir("killed")
        try Data("half".utf8).write(to: URL(fileURLWithPath: junk + "/out.h5"))
        var r = try store.collectGarbage()
        XCTAssertEqual(r.records, 0)
        XCTAssertGreaterThan(r.files, 0)
        log.runs.removeAll()
        try runner(store, log).run(spec())
        XCTAssertEqual(log.runs, [], "all records survive a plain gc")
        r = try store.collectGarbage(keepLatestOnly: true)
        XCTAssertEqual(r.records, 4, "filter and total of the 7.5 run are no longer anyone's latest")
        try runner(store, log).run(spec())
        XCTAssertEqual(log.runs, [], "the latest runs survive")
        try runner(store, log).run(spec(["filter.threshold=7.5"]))
        XCTAssertEqual(log.runs.count, 4, "the collected runs recompute")
    }

    func testCorruptRecordCountsAsMissing() throws {
        let store = try tempStore(), log = RunLog()
        let res = try runner(store, log).run(spec())
        let fp = res.last!.record.fingerprint
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: store.root + "/records/\(fp).json"))
        log.runs.removeAll()
        try runner(store, log).run(spec())
        XCTAssertEqual(log.runs, ["total[seed=2]"])
    }
}
