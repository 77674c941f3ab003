import CHDF5
import H5
import Tensor
import TestSupport
import XCTest

/// The HDF5 wrapper on its own: tensors, groups, attributes, errors, and no leaked ids.
final class H5FileTests: XCTestCase {
    func testTensorsRoundTripWithDottedKeys() throws {
        let path = try temporaryDirectory(self) + "/t.h5"
        var rng = SeededRNG(seed: 1)
        let f32 = rng.tensor([3, 4, 5])
        f32.floats[0] = -0.0; f32.floats[1] = .nan; f32.floats[2] = .infinity; f32.floats[3] = .leastNonzeroMagnitude
        let i64 = Tensor(zeros: [2, 3], dtype: .int64)
        for (i, v) in [Int64.min, -1, 0, 1, 1 << 40, .max].enumerated() { i64.buffer(Int64.self)[i] = v }
        let u8 = Tensor(zeros: [4], dtype: .uint8)
        for i in 0..<4 { u8.buffer(UInt8.self)[i] = UInt8(i * 85) }
        let bool = Tensor(zeros: [3], dtype: .bool)
        bool.buffer(UInt8.self)[1] = 1
        let f64 = Tensor(zeros: [2], dtype: .float64)
        f64.buffer(Double.self)[0] = .pi
        let tensors: [String: Tensor] = [
            "image_encoder.blocks.0.attn.qkv.weight": f32,
            "mask_decoder.num_batches_tracked": i64,
            "labels": u8,
            "mask.valid": bool,
            "precise": f64,
            "scalar": Tensor(scalar: 2.5),
            "scalar1": Tensor(shape: [1], [7]),
            "empty": Tensor(zeros: [0]),
            "empty2d": Tensor(zeros: [3, 0], dtype: .int64),
        ]
        let f = try H5File.create(path)
        for (k, t) in tensors { try f.write(t, at: "weights/\(k)") }
        XCTAssertEqual(f.openObjectCount, 0)
        try f.close()

        let g = try H5File.open(path)
        XCTAssertEqual(try g.members(of: "/"), ["weights"])
        XCTAssertEqual(try g.members(of: "weights"), tensors.keys.sorted())
        XCTAssertEqual(g.kind("weights"), .group)
        XCTAssertEqual(g.kind("weights/labels"), .dataset)
        XCTAssertNil(g.kind("weights/nope"))
        XCTAssertFalse(g.exists("nope/deeper/still"))
        for (k, t) in tensors { assertIdentical(try g.read("weights/\(k)"), t, k) }
        XCTAssertEqual(try g.read("weights/scalar").shape, [])
        XCTAssertEqual(try g.read("weights/scalar1").shape, [1])
        XCTAssertEqual(g.openObjectCount, 0)
        try g.close()
    }

    func testNestedGroupsAndAttributes() throws {
        let path = try temporaryDirectory(self) + "/a.h5"
        let f = try H5File.create(path)
        try f.createGroups("a/b/c")
        try f.createGroups("a/b")  // existing groups are kept
        try f.write(Tensor(shape: [2], [1, 2]), at: "a/b/c/x.y")
        try f.setAttribute("name", "héllo wörld ✓")
        try f.setAttribute("empty", "")
        try f.setAttribute("count", -42, on: "a/b")
        try f.setAttribute("lr", 1e-3, on: "a/b/c/x.y")
        try f.setAttribute("count", 43, on: "a/b")  // replaces
        try f.setAttribute("with.dots and spaces", "ok", on: "a")
        let long = String(repeating: "0123456789abcdef", count: 20_000)  // 320 KB: past the 64 KB header-message limit
        try f.setAttribute("long", long, on: "a/b")
        try f.close()

        let g = try H5File.open(path)
        XCTAssertEqual(try g.members(of: "a"), ["b"])
        XCTAssertEqual(try g.stringAttribute("name"), "héllo wörld ✓")
        XCTAssertEqual(try g.stringAttribute("empty"), "")
        XCTAssertEqual(try g.intAttribute("count", of: "a/b"), 43)
        XCTAssertEqual(try g.doubleAttribute("lr", of: "a/b/c/x.y"), 1e-3)
        XCTAssertEqual(try g.doubleAttribute("count", of: "a/b"), 43)
        XCTAssertEqual(try g.stringAttribute("with.dots and spaces", of: "a"), "ok")
        XCTAssertEqual(try g.stringAttribute("long", of: "a/b"), String(repeating: "0123456789abcdef", count: 20_000))
        XCTAssertEqual(try g.attributeNames(), ["empty", "name"])
        XCTAssertTrue(g.hasAttribute("count", of: "a/b"))
        XCTAssertFalse(g.hasAttribute("count", of: "a"))
        XCTAssertEqual(g.openObjectCount, 0)
    }

    func testErrorsNameTheFileAndObject() throws {
        let path = try temporaryDirectory(self) + "/e.h5"
        let f = try H5File.create(path)
        try f.write(Tensor(shape: [1], [1]), at: "g/x")
        assertThrows(try f.write(Tensor(shape: [1], [1]), at: "g/x"), mentioning: [path, "/g/x", "already exists"])
        assertThrows(try f.write(Tensor(shape: [1], [1]), at: "g/x/y"), mentioning: ["/g/x", "not a group"])
        assertThrows(try f.read("g/missing.weight"), mentioning: [path, "/g/missing.weight", "no such dataset"])
        assertThrows(try f.read("g"), mentioning: ["/g", "expected a dataset"])
        assertThrows(try f.members(of: "g/x"), mentioning: ["/g/x", "not a group"])
        try f.setAttribute("s", "text", on: "g")
        assertThrows(try f.intAttribute("s", of: "g"), mentioning: ["/g", "\"s\"", "expected an integer"])
        assertThrows(try f.stringAttribute("nope", of: "g"), mentioning: ["/g", "\"nope\"", "missing"])
        XCTAssertEqual(f.openObjectCount, 0)
        try f.close()
        assertThrows(try f.read("g/x"), mentioning: ["closed"])
        assertThrows(try H5File.create(path), mentioning: [path, "already exists"])

        let r = try H5File.open(path)
        XCTAssertEqual(try r.read("g/x").scalars, [1])
        assertThrows(try r.write(Tensor(shape: [1], [1]), at: "y"), mentioning: ["read-only"])
        assertThrows(try H5File.open(path + ".missing"), mentioning: ["no such file"])
    }

    /// A header that claims a huge shape over missing data (datasets created and never written)
    /// fails before anything is allocated.
    func testUnwrittenHugeDatasetsFailCleanly() throws {
        let path = try temporaryDirectory(self) + "/u.h5"
        let fid = H5Fcreate(path, samdg_h5f_acc_trunc(), samdg_h5p_default(), samdg_h5p_default())
        for (name, n) in [("huge", 1 << 40), ("unwritten", 1 << 28)] {
            var dims = [hsize_t(n)]
            let space = H5Screate_simple(1, &dims, nil)
            let did = H5Dcreate2(fid, name, samdg_h5t_ieee_f32le(), space, samdg_h5p_default(), samdg_h5p_default(), samdg_h5p_default())
            XCTAssertGreaterThanOrEqual(did, 0)
            _ = H5Dclose(did); _ = H5Sclose(space)
        }
        _ = H5Fclose(fid)
        let f = try H5File.open(path)
        assertThrows(try f.read("huge"), mentioning: ["/huge", "too large"])
        assertThrows(try f.read("unwritten"), mentioning: ["/unwritten", "holds 0 bytes", "need 1073741824"])
    }
}
