import Foundation
import Tensor
import Train
import XCTest

/// A failed save leaves the previous checkpoint intact and no temporary files behind.
final class AtomicSaveTests: XCTestCase {
    /// The disk "fills up" mid-write: RLIMIT_FSIZE makes write(2) fail with EFBIG once the
    /// temporary file passes 64 KiB (SIGXFSZ is ignored so the process survives).
    func testWriteFailureMidFileKeepsOldCheckpoint() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/ckpt.h5"
        try CheckpointFileTests.sample(seed: 1).save(to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertLessThan(before.count, 64 << 10)

        let big = CheckpointFileTests.sample(seed: 2, big: true)  // ~3 MB
        try withFileSizeLimit(64 << 10) {
            assertThrows(try big.save(to: path), mentioning: ["\(path):/weights/", "File too large", "\(path) is unchanged"])
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(temporaryFiles(in: dir), [])
        assertIdentical(try Checkpoint.load(path: path).weights, CheckpointFileTests.sample(seed: 1).weights, "old weights")

        // Without the limit the same save succeeds and replaces the file.
        try big.save(to: path)
        assertIdentical(try Checkpoint.load(path: path).weights, big.weights, "new weights")
        XCTAssertEqual(temporaryFiles(in: dir), [])
    }

    /// The rename, the last step, fails (the destination is a non-empty directory): the
    /// temporary file is removed and the destination untouched.
    func testRenameFailureRemovesTemporaryFile() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/ckpt.h5"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path + "/keep"))
        assertThrows(try CheckpointFileTests.sample().save(to: path), mentioning: [path, "renaming the temporary file"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path), ["keep"])
        XCTAssertEqual(temporaryFiles(in: dir), [])
    }

    /// The directory the checkpoint goes into cannot be created (a file is in the way).
    func testUnwritableDirectory() throws {
        let dir = try temporaryDirectory(self)
        try Data([0]).write(to: URL(fileURLWithPath: dir + "/blocker"))
        assertThrows(try CheckpointFileTests.sample().save(to: dir + "/blocker/sub/ckpt.h5"), mentioning: ["ckpt.h5", "blocker is not a directory"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["blocker"])
    }

    /// Runs `body` with the process's file size soft limit set to `bytes`, restoring it after.
    private func withFileSizeLimit(_ bytes: Int, _ body: () throws -> Void) throws {
        var old = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old), 0)
        let oldHandler = signal(SIGXFSZ, SIG_IGN)
        defer {
            _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
            _ = signal(SIGXFSZ, oldHandler)
        }
        var limited = old
        limited.rlim_cur = rlim_t(bytes)
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited), 0)
        try body()
    }
}
