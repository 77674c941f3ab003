import Datasets
import Foundation
import Tensor
import XCTest

/// The domain file: round trip, byte-identical rewrites, checks on read, h5py.
final class DomainFileTests: XCTestCase {
    static func sample() throws -> DomainData {
        let images = Tensor(shape: [3, 4, 5, 3], (0..<180).map { Float($0) * 1.5 - 20 })
        let masks = Tensor(zeros: [3, 4, 5], dtype: .uint8)
        for i in stride(from: 0, to: 60, by: 7) { masks.buffer(UInt8.self)[i] = 1 }
        let provenance = Provenance(source: "/data/src", format: "folder", options: ["mask_rule": "threshold:127"],
                                    counts: ["samples": 3], skipped: [SkippedFile(file: "images/x.png", reason: "ünïcode \"quoted\"")])
        return try DomainData(domain: "site-a", ids: ["a", "b ü", "c"], images: images, masks: masks,
                              attributes: DomainAttributes(format: "folder", maskRule: "threshold:127", provenance: provenance))
    }

    func testRoundTripAndDeterministicBytes() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let d = try Self.sample()
        try d.write(to: dir + "/a.h5")
        let back = try DomainData.read(from: dir + "/a.h5")
        XCTAssertEqual(back.domain, "site-a")
        XCTAssertEqual(back.ids, d.ids)
        XCTAssertEqual(back.images.shape, [3, 4, 5, 3])
        XCTAssertEqual(back.images.scalars, d.images.scalars)
        XCTAssertEqual(back.masks.dtype, .uint8)
        XCTAssertEqual(back.masks.scalars, d.masks.scalars)
        XCTAssertEqual(back.attributes, d.attributes)
        Thread.sleep(forTimeInterval: 1.1)   // a timestamp would now differ
        try d.write(to: dir + "/b.h5")
        XCTAssertEqual(try Fixtures.fileBytes(dir + "/a.h5"), try Fixtures.fileBytes(dir + "/b.h5"), "same data, same bytes")
        try back.write(to: dir + "/a.h5")   // replacing goes through a temporary file
        XCTAssertEqual(try Fixtures.fileBytes(dir + "/a.h5"), try Fixtures.fileBytes(dir + "/b.h5"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["a.h5", "b.h5"])
    }

    func testImportTwiceGivesIdenticalFiles() throws {
        let root = try Fixtures.shared("prostate/promise12-case00")
        let dir = try Fixtures.temporaryDirectory(self)
        for name in ["1.h5", "2.h5"] {
            try Importer.run(.nifti, from: root, options: ImportOptions(domain: "promise12", foregroundOnly: true))
                .write(to: dir + "/" + name)
        }
        XCTAssertEqual(try Fixtures.fileBytes(dir + "/1.h5"), try Fixtures.fileBytes(dir + "/2.h5"))
    }

    func testInvalidDataAndFilesAreErrors() throws {
        let d = try Self.sample()
        let attrs = d.attributes
        assertThrows(try DomainData(domain: "x", ids: ["a", "b"], images: d.images, masks: d.masks, attributes: attrs),
                     mentioning: ["2 ids for 3 images"])
        assertThrows(try DomainData(domain: "x", ids: ["a", "a", "b"], images: d.images, masks: d.masks, attributes: attrs),
                     mentioning: ["\"a\" appears twice"])
        assertThrows(try DomainData(domain: "x", ids: ["a", "b\nc", "d"], images: d.images, masks: d.masks, attributes: attrs),
                     mentioning: ["line break"])
        let twos = Tensor(zeros: [3, 4, 5], dtype: .uint8)
        twos.buffer(UInt8.self)[25] = 2
        assertThrows(try DomainData(domain: "x", ids: d.ids, images: d.images, masks: twos, attributes: attrs),
                     mentioning: ["mask of b ü holds the value 2"])
        assertThrows(try DomainData(domain: "x", ids: d.ids, images: Tensor(zeros: [3, 4, 5]), masks: d.masks, attributes: attrs),
                     mentioning: ["float32 [N, H, W, 3]"])

        let dir = try Fixtures.temporaryDirectory(self)
        assertThrows(try DomainData.read(from: dir + "/none.h5"), mentioning: ["none.h5", "no such file"])
        try Fixtures.write(Array("not hdf5".utf8), to: dir + "/text.h5")
        assertThrows(try DomainData.read(from: dir + "/text.h5"), mentioning: ["text.h5", "not an HDF5 file"])
    }

    /// h5py reads the layout documented in DomainFile.swift. Skipped unless the Python named by
    /// SAMDG_PYTHON (default python3) imports h5py and numpy.
    func testH5pyReadsDomainFile() throws {
        let python = ProcessInfo.processInfo.environment["SAMDG_PYTHON"] ?? "python3"
        guard (try? Self.run(python, ["-c", "import h5py, numpy"])) == 0 else { throw XCTSkip("\(python) cannot import h5py") }
        let dir = try Fixtures.temporaryDirectory(self)
        try Self.sample().write(to: dir + "/d.h5")
        let script = """
        import sys, json, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        assert f.attrs["layout"].decode() == "samdg-domain/1" and f.attrs["domain"].decode() == "site-a"
        ids = f["ids"][()].tobytes().decode().split("\\n")
        assert ids == ["a", "b ü", "c"], ids
        im, m = f["images"][()], f["masks"][()]
        assert im.dtype == np.float32 and im.shape == (3, 4, 5, 3) and im[2, 3, 4, 2] == 179 * 1.5 - 20
        assert m.dtype == np.uint8 and m.shape == (3, 4, 5) and int(m.sum()) == 9
        p = json.loads(f.attrs["provenance"].decode())
        assert p["skipped"][0]["reason"] == "ünïcode \\"quoted\\"" and p["counts"]["samples"] == 3, p
        """
        XCTAssertEqual(try Self.run(python, ["-c", script, dir + "/d.h5"]), 0)
    }

    static func run(_ executable: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + args
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
