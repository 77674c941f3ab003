import Foundation
import Models
import XCTest

/// kill −9 in the middle of stage 3, then a rerun: the store is intact, the rerun resumes from
/// the last finished epoch, and its outputs are byte-identical to an uninterrupted run's.
final class KillResumeTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func samdg(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, reason: Process.TerminationReason, out: String) {
        let p = Process()
        p.executableURL = Self.root.appendingPathComponent(".build/release/samdg")
        p.arguments = args
        p.currentDirectoryURL = Self.root
        var e = ProcessInfo.processInfo.environment
        e["SAMDG_QUIET"] = "1"
        for (k, v) in env { e[k] = v }
        p.environment = e
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, p.terminationReason, String(decoding: data, as: UTF8.self))
    }

    func testKillDuringRefineThenRerunMatchesUninterrupted() throws {
        guard (try? Weights.liteMedSAM()) != nil else { throw XCTSkip("LiteMedSAM weights not fetched (make weights)") }
        guard FileManager.default.isExecutableFile(atPath: Self.root.appendingPathComponent(".build/release/samdg").path) else {
            throw XCTSkip("needs the release samdg binary (swift build -c release)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("samdg-kill-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let graph = dir + "/g.yaml"
        try PipelineEndToEndTests.graph.replacingOccurrences(of: "epochs: 2}", with: "epochs: 3}")
            .write(toFile: graph, atomically: true, encoding: .utf8)

        let a = try samdg(["run", graph, "--store", dir + "/a", "--reports", dir + "/ra"])
        XCTAssertEqual(a.status, 0, a.out)
        let killed = try samdg(["run", graph, "--store", dir + "/b", "--reports", dir + "/rb"], env: ["SAMDG_CRASH_AT": "refine-epoch-2"])
        XCTAssertEqual(killed.reason, .uncaughtSignal)
        XCTAssertEqual(killed.status, SIGKILL)
        let st = try samdg(["status", graph, "--store", dir + "/b"])
        XCTAssertTrue(st.out.contains("segment                     cached"), st.out)
        XCTAssertTrue(st.out.contains("refine                      stale"), st.out)
        let b = try samdg(["run", graph, "--store", dir + "/b", "--reports", dir + "/rb"])
        XCTAssertEqual(b.status, 0, b.out)
        XCTAssertTrue(b.out.contains("2 recomputed"), "refine and report rerun, nothing else: \(b.out)")
        for f in ["table.csv", "curves.csv"] {
            let x = try String(contentsOfFile: "\(dir)/ra/report/\(f)", encoding: .utf8)
            let y = try String(contentsOfFile: "\(dir)/rb/report/\(f)", encoding: .utf8)
            XCTAssertEqual(x, y, "\(f) after kill + resume equals the uninterrupted run's")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
