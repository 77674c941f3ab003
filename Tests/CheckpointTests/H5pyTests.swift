import Foundation
import H5
import Tensor
import Train
import XCTest

/// Checkpoints are plain HDF5 that h5py reads. Skipped unless the Python named by SAMDG_PYTHON
/// (default `python3`) can import h5py and numpy.
final class H5pyTests: XCTestCase {
    func testH5pyReadsCheckpoint() throws {
        let python = ProcessInfo.processInfo.environment["SAMDG_PYTHON"] ?? "python3"
        guard (try? run(python, ["-c", "import h5py, numpy"])) == 0 else {
            throw XCTSkip("\(python) cannot import h5py")
        }
        let dir = try temporaryDirectory(self)
        let path = dir + "/ckpt.h5"
        let c = CheckpointFileTests.sample()
        try c.save(to: path)
        // numpy's float32 repr round-trips, so the printed values compare exactly.
        let script = """
        import sys, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        a = f.attrs
        assert a["format"].decode() == "samdg-checkpoint" and int(a["step"]) == 17 and int(a["epoch"]) == 3, dict(a)
        w = f["weights"]
        q = w["image_encoder.blocks.0.attn.qkv.weight"]
        assert q.dtype == np.float32 and q.shape == (6, 4), (q.dtype, q.shape)
        assert w["bn.num_batches_tracked"].dtype == np.int64 and w["bn.num_batches_tracked"][()] == 1234
        assert w["mask"].dtype == np.uint8 and w["mask"][1, 1] == 255
        assert w["temperature"].shape == () and w["unused.empty"].shape == (0, 4)
        o = f["optimizer"]
        assert o.attrs["kind"].decode() == "adamw" and int(o.attrs["step_count"]) == 17
        assert o["state/image_encoder.blocks.0.attn.qkv.weight.exp_avg"].shape == (6, 4)
        assert f["metadata"].attrs["note"].decode("utf-8") == "ünïcode ✓"
        print(" ".join(repr(float(v)) for v in q[()].ravel()))
        """
        let out = dir + "/out.txt", err = dir + "/err.txt"
        let status = try run(python, ["-c", script, path], stdout: out, stderr: err)
        XCTAssertEqual(status, 0, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        guard status == 0 else { return }
        let printed = try String(contentsOfFile: out, encoding: .utf8).split(separator: " ").map { Float(Double($0.trimmingCharacters(in: .whitespacesAndNewlines))!) }
        XCTAssertEqual(printed, Array(c.weights["image_encoder.blocks.0.attn.qkv.weight"]!.floats))
    }

    /// The reverse direction: what h5py writes by default (variable-length str attributes, bool
    /// enums, int32, float16) reads back with the matching dtypes.
    func testReadsH5pyWrittenFile() throws {
        let python = ProcessInfo.processInfo.environment["SAMDG_PYTHON"] ?? "python3"
        guard (try? run(python, ["-c", "import h5py, numpy"])) == 0 else {
            throw XCTSkip("\(python) cannot import h5py")
        }
        let dir = try temporaryDirectory(self)
        let path = dir + "/py.h5"
        let script = """
        import sys, h5py, numpy as np
        with h5py.File(sys.argv[1], "w") as f:
            f.attrs["name"] = "vlen ✓"
            f.attrs["n"] = np.int32(-5)
            f.attrs["lr"] = 0.25
            g = f.create_group("weights")
            g["a.b.weight"] = np.arange(6, dtype=np.float32).reshape(2, 3)
            g["flags"] = np.array([True, False, True])
            g["i32"] = np.array([-1, 2], dtype=np.int32)
            g["half"] = np.array([0.5, -2], dtype=np.float16)
            g["s"] = np.float64(3.5)
        """
        let err = dir + "/err.txt"
        let status = try run(python, ["-c", script, path], stderr: err)
        XCTAssertEqual(status, 0, (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        guard status == 0 else { return }
        let f = try H5File.open(path)
        XCTAssertEqual(try f.stringAttribute("name"), "vlen ✓")
        XCTAssertEqual(try f.intAttribute("n"), -5)
        XCTAssertEqual(try f.doubleAttribute("lr"), 0.25)
        XCTAssertEqual(try f.members(of: "weights"), ["a.b.weight", "flags", "half", "i32", "s"])
        let w = try f.read("weights/a.b.weight")
        XCTAssertEqual(w.shape, [2, 3]); XCTAssertEqual(w.scalars, [0, 1, 2, 3, 4, 5])
        let flags = try f.read("weights/flags")
        XCTAssertEqual(flags.dtype, .bool); XCTAssertEqual(flags.scalars, [1, 0, 1])
        let i32 = try f.read("weights/i32")
        XCTAssertEqual(i32.dtype, .int64); XCTAssertEqual(Array(i32.buffer(Int64.self)), [-1, 2])
        let half = try f.read("weights/half")
        XCTAssertEqual(half.dtype, .float32); XCTAssertEqual(half.scalars, [0.5, -2])
        let s = try f.read("weights/s")
        XCTAssertEqual(s.dtype, .float64); XCTAssertEqual(s.shape, []); XCTAssertEqual(s.doubles, [3.5])
        XCTAssertEqual(f.openObjectCount, 0)
    }

    private func run(_ exe: String, _ args: [String], stdout: String? = nil, stderr: String? = nil) throws -> Int32 {
        func handle(_ path: String?) throws -> FileHandle {
            guard let path else { return FileHandle.nullDevice }
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        p.standardOutput = try handle(stdout)
        p.standardError = try handle(stderr)
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
