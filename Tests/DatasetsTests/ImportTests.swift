import Datasets
import Foundation
import Tensor
import XCTest

/// The importers on folders the tests write (SAML .npy, PNG/JPEG) and on ../shared/data.
final class ImportTests: XCTestCase {
    /// A gradient RGB image and a disc mask (0/255), both `n`×`n`, varying with `k`.
    static func pair(_ n: Int, _ k: Int) -> (image: Tensor, mask: Tensor) {
        let image = Fixtures.image(n, n) { y, x, c in UInt8((y * 11 + x * 5 + c * 60 + k * 17) % 256) }
        let mask = Fixtures.image(n, n, channels: nil) { y, x, _ in
            let (dy, dx) = (y - n / 2, x - n / 2 + k % 3)
            return dy * dy + dx * dx <= n * n / 9 ? 255 : 0
        }
        return (image, mask)
    }

    func testSAMLLayout() throws {
        let root = try Fixtures.temporaryDirectory(self) + "/Domain3"
        var expected: [String: (Tensor, Tensor)] = [:]
        for (k, name) in ["Case10_3", "Case2_14", "Case10_21", "Case2_5"].enumerated() {
            let image = Tensor(shape: [6, 5, 3], (0..<90).map { Float($0 * (k + 1)) * 0.01 - 0.4 })
            let mask = Tensor(shape: [6, 5], (0..<30).map { Float(($0 + k) % 4 == 0 ? 1 : 0) })
            try FileManager.default.createDirectory(atPath: root + "/image", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/mask", withIntermediateDirectories: true)
            try NPY.write(image, to: "\(root)/image/\(name).npy")
            try NPY.write(mask, to: "\(root)/mask/\(name).npy")
            expected[name] = (image, mask)
        }
        let d = try Importer.run(.saml, from: root, options: ImportOptions(domain: "Domain3"))
        XCTAssertEqual(d.ids, ["Case2_5", "Case2_14", "Case10_3", "Case10_21"], "natural name order")
        XCTAssertEqual(d.images.shape, [4, 6, 5, 3])
        XCTAssertEqual(d.attributes.maskRule, "threshold:0.5")
        for (i, id) in d.ids.enumerated() {
            XCTAssertEqual(d.image(i).scalars, expected[id]!.0.scalars, id)
            XCTAssertEqual(d.mask(i).scalars, expected[id]!.1.scalars, id)
        }
        // A 2-D image is replicated to three channels.
        try NPY.write(Tensor(shape: [6, 5], (0..<30).map(Float.init)), to: root + "/image/Case2_5.npy")
        let gray = try Importer.run(.saml, from: root, options: ImportOptions(domain: "d", limit: 1))
        XCTAssertEqual(Array(gray.image(0).scalars.prefix(6)), [0, 0, 0, 1, 1, 1])
    }

    /// images/ and masks/ PNG folders; `extra` adds files by relative path.
    func folder(_ pairs: [String: (Tensor, Tensor)], extra: [String: [UInt8]] = [:]) throws -> String {
        let root = try Fixtures.temporaryDirectory(self, "folder\(UInt32.random(in: 0...UInt32.max))")
        for (name, (image, mask)) in pairs {
            try PNG.write(image, to: "\(root)/images/\(name).png")
            try PNG.write(mask, to: "\(root)/masks/\(name).png")
        }
        for (path, bytes) in extra { try Fixtures.write(bytes, to: root + "/" + path) }
        try FileManager.default.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/masks", withIntermediateDirectories: true)
        return root
    }

    func testFolderOfPNGs() throws {
        let pairs = Dictionary(uniqueKeysWithValues: (0..<4).map { ("img\($0)", Self.pair(12, $0)) })
        let root = try folder(pairs)
        let d = try Importer.run(.folder, from: root, options: ImportOptions(domain: "synthetic"))
        XCTAssertEqual(d.ids, ["img0", "img1", "img2", "img3"])
        XCTAssertEqual(d.images.shape, [4, 12, 12, 3])
        for (i, id) in d.ids.enumerated() {
            XCTAssertEqual(d.image(i).scalars, pairs[id]!.0.scalars)
            XCTAssertEqual(d.mask(i).scalars, pairs[id]!.1.scalars.map { $0 > 127 ? 1 : 0 })
        }
        XCTAssertEqual(d.attributes.provenance.counts["samples"], 4)
        XCTAssertEqual(d.attributes.provenance.options["mask_rule"], "threshold:127")
    }

    func testBadFilesStopNamingTheFile() throws {
        let good = try PNG.encode(Self.pair(12, 0).image)
        let mask = try PNG.encode(Self.pair(12, 0).mask)
        let cases: [(String, [String: [UInt8]], [String])] = [
            ("truncated PNG", ["images/b.png": Array(good.prefix(good.count / 2)), "masks/b.png": mask],
             ["images/b.png", "cannot decode PNG"]),
            ("garbage named .jpg", ["images/c.jpg": Array("this is not an image at all".utf8), "masks/c.png": mask],
             ["images/c.jpg", "neither a PNG nor a JPEG"]),
            ("mask of another shape", ["images/d.png": good, "masks/d.png": try PNG.encode(Self.pair(10, 0).mask)],
             ["masks/d.png", "[10, 10, 1]", "does not match its image", "12×12"]),
            ("image without a mask", ["images/e.png": good], ["images/e.png", "has no mask", "e.*"]),
            ("mask without an image", ["masks/f.png": mask], ["masks/f.png", "has no image"]),
        ]
        for (what, files, parts) in cases {
            let root = try folder(["a": Self.pair(12, 1)], extra: files)
            assertThrows(try Importer.run(.folder, from: root, options: ImportOptions(domain: "x")), mentioning: parts)
            _ = what
        }
    }

    func testSkipModeRecordsBadFiles() throws {
        let good = try PNG.encode(Self.pair(12, 0).image)
        let mask = try PNG.encode(Self.pair(12, 0).mask)
        let root = try folder(["a": Self.pair(12, 1), "g": Self.pair(12, 2)], extra: [
            "images/b.png": Array(good.prefix(good.count / 2)), "masks/b.png": mask,
            "images/c.jpg": Array("garbage".utf8), "masks/c.png": mask,
            "images/d.png": good, "masks/d.png": try PNG.encode(Self.pair(10, 0).mask),
            "images/e.png": good, "masks/f.png": mask,
        ])
        let d = try Importer.run(.folder, from: root, options: ImportOptions(domain: "x", onError: .skip))
        XCTAssertEqual(d.ids, ["a", "g"])
        let skipped = d.attributes.provenance.skipped
        XCTAssertEqual(skipped.map(\.file), ["images/b.png", "images/c.jpg", "masks/d.png", "images/e.png", "masks/f.png"])
        XCTAssert(skipped[0].reason.contains("cannot decode PNG"), skipped[0].reason)
        XCTAssert(skipped[3].reason.contains("has no mask"), skipped[3].reason)
        XCTAssertEqual(d.attributes.provenance.counts["skipped"], 5)
        XCTAssertEqual(d.attributes.provenance.options["on_error"], "skip")
        // The provenance reaches the file.
        let path = root + "/x.h5"
        try d.write(to: path)
        XCTAssertEqual(try DomainData.read(from: path).attributes.provenance.skipped, skipped)
    }

    func testSizesMustAgreeUnlessResized() throws {
        let root = try folder(["a": Self.pair(12, 0), "b": Self.pair(9, 1), "c": Self.pair(12, 2), "d": Self.pair(7, 3)])
        assertThrows(try Importer.run(.folder, from: root, options: ImportOptions(domain: "x")),
                     mentioning: ["2 image(s) differ in size", "images/b.png (9×9)", "images/d.png (7×7)", "size option"])
        let d = try Importer.run(.folder, from: root, options: ImportOptions(domain: "x", size: 8))
        XCTAssertEqual(d.images.shape, [4, 8, 8, 3])
        XCTAssertEqual(d.attributes.provenance.counts["resized"], 4)
        // Images go through the cv2-exact bilinear resize, masks through nearest.
        let b = Self.pair(9, 1)
        XCTAssertEqual(d.image(1).scalars, try Prep.cvResize(b.image.toFloat32(), width: 8, height: 8).scalars)
        let nearest = try Prep.nearestResize(b.mask, width: 8, height: 8)
        XCTAssertEqual(d.mask(1).scalars, nearest.scalars.map { $0 > 127 ? 1 : 0 })
    }

    func testProstate158WholeGland() throws {
        let root = try Fixtures.shared("prostate/prostate158-mini")
        let d = try Importer.run(.folder, from: root,
                                 options: ImportOptions(domain: "prostate158", maskRule: try MaskRule(parsing: "union:R,G>127")))
        XCTAssertEqual(d.count, 36)
        XCTAssertEqual(d.images.shape, [36, 512, 512, 3])
        // Pillow reference: Σ over the 36 masks of ((R > 127) | (G > 127)).
        XCTAssertEqual(Fixtures.sum(d.masks), 585_929)
        XCTAssert((0..<d.count).allSatisfy { d.foregroundPixels($0) > 0 })
        XCTAssertEqual(d.ids.first, "10002_9")
    }

    func testKvasirThresholdAndResize() throws {
        let root = try Fixtures.shared("polyp/Kvasir-SEG")
        let d = try Importer.run(.folder, from: root, options: ImportOptions(domain: "kvasir", size: 128, limit: 12))
        XCTAssertEqual(d.images.shape, [12, 128, 128, 3])
        let f = d.foregroundFraction
        XCTAssert(f > 0.02 && f < 0.6, "polyp fraction \(f)")
        let full = try Importer.run(.folder, from: root, options: ImportOptions(domain: "kvasir", limit: 1))
        XCTAssertEqual(Fixtures.sum(full.masks), 18_535, "Pillow reference for the first mask, gray > 127")
    }

    func testPromise12Slices() throws {
        let root = try Fixtures.shared("prostate/promise12-case00")
        let all = try Importer.run(.nifti, from: root, options: ImportOptions(domain: "promise12"))
        XCTAssertEqual(all.images.shape, [64, 128, 128, 3])
        let fg = try Importer.run(.nifti, from: root, options: ImportOptions(domain: "promise12", foregroundOnly: true))
        XCTAssertEqual(fg.count, 34)
        XCTAssertEqual(fg.ids.first, "Case00_z016")
        XCTAssertEqual(fg.ids.last, "Case00_z049")
        XCTAssertEqual(Fixtures.sum(fg.masks), 23_629)
        XCTAssertEqual(fg.attributes.provenance.counts["background_dropped"], 30)
        // nibabel: a[:, :, 16:50] summed (float64) = 130365850.14; gray replicated to 3 channels.
        XCTAssertEqual(Fixtures.sum(fg.images) / 3, 130_365_850.14, accuracy: 2)
    }

    func testNIfTIBadVolumeIsSkippedOrStops() throws {
        let root = try Fixtures.temporaryDirectory(self)
        let voxels = NIfTITests.int16Voxels(24, bigEndian: false)
        let good = NIfTITests.niftiBytes(dims: [4, 3, 2], datatype: 4, bitpix: 16, voxels: voxels, bigEndian: false)
        let mask = NIfTITests.niftiBytes(dims: [4, 3, 2], datatype: 2, bitpix: 8, voxels: (0..<24).map { UInt8($0 % 2) }, bigEndian: false)
        try Fixtures.write(good, to: root + "/A.nii")
        try Fixtures.write(mask, to: root + "/A_segmentation.nii")
        try Fixtures.write(NIfTITests.niftiBytes(dims: [4, 3, 2], datatype: 4, bitpix: 16, voxels: voxels, bigEndian: false, sizeofHdr: 12),
                           to: root + "/B.nii")
        try Fixtures.write(mask, to: root + "/B_segmentation.nii")
        assertThrows(try Importer.run(.nifti, from: root, options: ImportOptions(domain: "x")), mentioning: ["B.nii", "sizeof_hdr is 12"])
        let d = try Importer.run(.nifti, from: root, options: ImportOptions(domain: "x", onError: .skip))
        XCTAssertEqual(d.ids, ["A_z000", "A_z001"])
        XCTAssertEqual(d.attributes.provenance.skipped.map(\.file), ["B.nii"])
    }

    func testMaskRules() throws {
        for text in ["nonzero", "threshold:127", "threshold:0.5", "union:R,G>127", "label:1,3"] {
            XCTAssertEqual(try MaskRule(parsing: text).description, text)
        }
        XCTAssertEqual(try MaskRule(parsing: "union: r , g > 127"), .union(channels: [0, 1], above: 127))
        assertThrows(try MaskRule(parsing: "union:R,X>1"), mentioning: ["\"X\" is not a channel"])
        assertThrows(try MaskRule(parsing: "threshold:abc"), mentioning: ["not a number"])
        assertThrows(try MaskRule(parsing: "otsu"), mentioning: ["unknown rule"])
        let rgb = Tensor(shape: [1, 4, 3], [200, 0, 0, 0, 200, 0, 0, 0, 200, 127, 127, 127])
        XCTAssertEqual(try MaskRule(parsing: "union:R,G>127").apply(rgb, place: "m").scalars, [1, 1, 0, 0])
        XCTAssertEqual(try MaskRule.threshold(127).apply(rgb, place: "m").scalars, [0, 0, 0, 0], "luma 59.8, 117.4, 22.8, 127")
        XCTAssertEqual(try MaskRule.nonzero.apply(rgb, place: "m").scalars, [1, 1, 1, 1])
        XCTAssertEqual(try MaskRule.label([127]).apply(rgb, place: "m").scalars, [0, 0, 0, 1])
        assertThrows(try MaskRule(parsing: "union:G>1").apply(Tensor(zeros: [2, 2, 1]), place: "gray.png"),
                     mentioning: ["gray.png", "needs channel G"])
    }
}
