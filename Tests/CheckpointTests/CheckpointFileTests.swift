import Foundation
import H5
import Tensor
import TestSupport
import Train
import XCTest

/// Checkpoint save/load: round trip, validation, corrupt and foreign files.
final class CheckpointFileTests: XCTestCase {
    static func sample(seed: UInt64 = 5, big: Bool = false) -> Checkpoint {
        var rng = SeededRNG(seed: seed)
        let counter = Tensor(zeros: [], dtype: .int64)
        counter.buffer(Int64.self)[0] = 1234
        let mask = Tensor(zeros: [2, 2], dtype: .uint8)
        mask.buffer(UInt8.self)[3] = 255
        let qkv = "image_encoder.blocks.0.attn.qkv.weight"
        let weights: [String: Tensor] = [
            qkv: rng.tensor(big ? [512, 512] : [6, 4]),
            "image_encoder.blocks.0.attn.qkv.bias": rng.tensor([6]),
            "bn.num_batches_tracked": counter,
            "mask": mask,
            "temperature": Tensor(scalar: 0.07),
            "unused.empty": Tensor(zeros: [0, 4]),
        ]
        let state: [String: Tensor] = [
            "\(qkv).exp_avg": rng.tensor(weights[qkv]!.shape),
            "\(qkv).exp_avg_sq": rng.tensor(weights[qkv]!.shape, 0, 1),
        ]
        return Checkpoint(weights: weights,
                          optimizer: OptimizerSnapshot(kind: .adam(lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true),
                                                       stepCount: 17, state: state),
                          step: 17, epoch: 3, configFingerprint: "sha256:abc123",
                          metadata: ["git": "23d49b0", "note": "ünïcode ✓", "empty": ""])
    }

    func testRoundTrip() throws {
        let path = try temporaryDirectory(self) + "/run/ckpt.h5"  // the directory is created
        let c = Self.sample()
        try c.save(to: path)
        let d = try Checkpoint.load(path: path)
        assertIdentical(d.weights, c.weights, "weights")
        assertIdentical(d.optimizer!.state, c.optimizer!.state, "optimizer state")
        XCTAssertEqual(d.optimizer!.kind, c.optimizer!.kind)
        XCTAssertEqual(d.optimizer!.kind.name, "adamw")
        XCTAssertEqual(d.optimizer!.stepCount, 17)
        XCTAssertEqual(d.step, 17)
        XCTAssertEqual(d.epoch, 3)
        XCTAssertEqual(d.configFingerprint, "sha256:abc123")
        XCTAssertEqual(d.metadata, c.metadata)
        XCTAssertEqual(temporaryFiles(in: (path as NSString).deletingLastPathComponent), [])

        // The file is laid out as documented (one dataset per PyTorch key in /weights).
        let f = try H5File.open(path)
        XCTAssertEqual(try f.stringAttribute("format"), "samdg-checkpoint")
        XCTAssertEqual(try f.members(of: "/"), ["metadata", "optimizer", "weights"])
        XCTAssertEqual(f.kind("weights/image_encoder.blocks.0.attn.qkv.weight"), .dataset)
        XCTAssertEqual(try f.doubleAttribute("lr", of: "optimizer"), Double(Float(3e-4)))
    }

    func testWeightsOnlyAndSGDRoundTrip() throws {
        let dir = try temporaryDirectory(self)
        let w = Checkpoint(weights: ["w": Tensor(shape: [2], [1, 2])])
        try w.save(to: dir + "/w.h5")
        let w2 = try Checkpoint.load(path: dir + "/w.h5")
        XCTAssertNil(w2.optimizer)
        XCTAssertEqual(w2.metadata, [:])
        assertIdentical(w2.weights, w.weights, "weights")

        let s = Checkpoint(weights: ["w": Tensor(shape: [2], [1, 2])],
                           optimizer: OptimizerSnapshot(kind: .sgd(lr: 0.1, momentum: 0.9, weightDecay: 0), stepCount: 2,
                                                        state: ["w.momentum_buffer": Tensor(shape: [2], [0.5, -0.0])]))
        try s.save(to: dir + "/s.h5")
        let s2 = try Checkpoint.load(path: dir + "/s.h5")
        XCTAssertEqual(s2.optimizer!.kind, .sgd(lr: 0.1, momentum: 0.9, weightDecay: 0))
        assertIdentical(s2.optimizer!.state, s.optimizer!.state, "sgd state")
    }

    func testInvalidCheckpointsAreRefusedBeforeWriting() throws {
        let dir = try temporaryDirectory(self)
        var c = Self.sample()
        c.weights["a/b"] = Tensor(scalar: 1)
        assertThrows(try c.save(to: dir + "/x.h5"), mentioning: ["\"a/b\"", "not a valid dataset name"])
        c = Self.sample()
        c.optimizer!.state["ghost.exp_avg"] = Tensor(scalar: 0)
        assertThrows(try c.save(to: dir + "/x.h5"), mentioning: ["ghost.exp_avg", "not among the trained parameters"])
        c = Self.sample()
        c.optimizer!.state["image_encoder.blocks.0.attn.qkv.weight.exp_avg"] = Tensor(zeros: [1])
        assertThrows(try c.save(to: dir + "/x.h5"), mentioning: ["qkv.weight.exp_avg", "shape [1]"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    // MARK: - Corrupt and foreign files

    func testTruncatedFile() throws {
        let path = try temporaryDirectory(self) + "/t.h5"
        try Self.sample(big: true).save(to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        for keep in [data.count - 1, data.count / 2, 4096, 100, 10, 0] {
            try data.prefix(keep).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try Checkpoint.load(path: path), "kept \(keep) bytes") { error in
                XCTAssertTrue("\(error)".contains(path), "\(error)")
                XCTAssertTrue(error is SamdgError, "\(error)")
            }
        }
    }

    func testRandomBytesAndOtherFormats() throws {
        let dir = try temporaryDirectory(self)
        var rng = SeededRNG(seed: 9)
        let junk = dir + "/junk.h5"
        try Data((0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }).write(to: URL(fileURLWithPath: junk))
        assertThrows(try Checkpoint.load(path: junk), mentioning: [junk, "not an HDF5 file"])
        assertThrows(try Checkpoint.load(path: dir + "/absent.h5"), mentioning: ["absent.h5", "no such file"])
        assertThrows(try Checkpoint.load(path: dir), mentioning: ["is a directory"])

        // An HDF5 file that is not a checkpoint.
        let other = dir + "/other.h5"
        let f = try H5File.create(other)
        try f.write(Tensor(scalar: 1), at: "x")
        try f.close()
        assertThrows(try Checkpoint.load(path: other), mentioning: [other, "\"format\"", "missing"])
    }

    /// Flipping a byte anywhere in a checkpoint (every fifth offset) must give an error or (for
    /// raw data bytes, which HDF5 does not checksum) different values, never a crash.
    /// SAMDG_FUZZ_VERBOSE=1 prints each offset, to find the one that crashed.
    func testCorruptedBytesNeverCrash() throws {
        let dir = try temporaryDirectory(self)
        let good = dir + "/good.h5", bad = dir + "/bad.h5"
        try Self.sample().save(to: good)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        var rng = SeededRNG(seed: 11)
        var failures = 0
        let verbose = ProcessInfo.processInfo.environment["SAMDG_FUZZ_VERBOSE"] != nil
        for offset in stride(from: 0, to: data.count, by: 5) {
            var d = data
            d[offset] ^= UInt8.random(in: 1...255, using: &rng)
            try d.write(to: URL(fileURLWithPath: bad))
            if verbose { print("fuzz offset \(offset)"); fflush(stdout) }
            do { _ = try Checkpoint.load(path: bad) } catch { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0)
    }

    /// A checkpoint missing a dataset the resumed model needs: the message names it.
    func testMissingDatasetIsNamed() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/m.h5"
        var c = Self.sample()
        c.weights["image_encoder.blocks.0.attn.qkv.bias"] = nil
        try c.save(to: path)
        let loaded = try Checkpoint.load(path: path)
        let g = ResumeTests.mlp()
        assertThrows(try Trainer(resuming: loaded, graph: g.graph, loss: "loss", trainable: ["net.0.weight"]),
                     mentioning: ["\"net.0.weight\"", "missing"])

        // A file without the /weights group at all.
        let f = try H5File.create(dir + "/noweights.h5")
        try f.setAttribute("format", "samdg-checkpoint")
        try f.setAttribute("format_version", 1)
        try f.setAttribute("step", 0)
        try f.setAttribute("epoch", 0)
        try f.setAttribute("config_fingerprint", "")
        try f.close()
        assertThrows(try Checkpoint.load(path: dir + "/noweights.h5"), mentioning: ["noweights.h5:/weights", "no such group"])

        // Optimizer state whose parameter is gone from /weights.
        let p = dir + "/orphan.h5"
        try Self.sample().save(to: p)
        let h = try H5File.open(p, .readWrite)
        try h.write(Tensor(zeros: [3]), at: "optimizer/state/decoder.w.exp_avg")
        try h.close()
        assertThrows(try Checkpoint.load(path: p), mentioning: ["orphan.h5:/optimizer/state", "decoder.w.exp_avg", "\"decoder.w\""])
    }
}
