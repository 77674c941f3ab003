import XCTest
import Models
import Tensor

/// Hand-built zip and legacy files through `PthReader.read(bytes:)`.
final class ContainerFormatTests: XCTestCase {
    static func edgePickle() -> PickleWriter {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("model"); w.emptyDict(); w.mark()
        w.unicode("w"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 6, size: [3, 2], stride: [1, 3])
        w.unicode("n"); w.tensorV2(storage: "LongStorage", key: "1", numel: 1, size: [], stride: [])
        w.setitems()
        w.unicode("epoch"); w.binint1(7)
        w.setitems(); w.stop()
        return w
    }

    static func edgeZip(byteorder: String? = "little", dropStorage: String? = nil, floats: [UInt8]? = nil) -> [UInt8] {
        var entries: [(path: String, data: [UInt8])] = [("ckpt/data.pkl", edgePickle().bytes)]
        if let b = byteorder { entries.append(("ckpt/byteorder", Array(b.utf8))) }
        let f = floats ?? leBytes(floats: [0, 1, 2, 3, 4, 5])
        if dropStorage != "0" { entries.append(("ckpt/data/0", f)) }
        if dropStorage != "1" { entries.append(("ckpt/data/1", leBytes(ints: [Int64(99)]))) }
        entries.append(("ckpt/version", Array("3\n".utf8)))
        return TinyZip.stored(entries)
    }

    func testZipArchive() throws {
        let c = try PthReader.read(bytes: Self.edgeZip(), name: "mem.pth")
        XCTAssertEqual(c.format, .zip)
        XCTAssertEqual(c.root["epoch"]?.intValue, 7)
        let w = try XCTUnwrap(c.root["model"]?["w"]?.tensorValue)
        XCTAssertEqual(w.shape, [3, 2]); XCTAssertEqual(w.tensor.scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(c.root["model"]?["n"]?.tensorValue?.tensor.scalars, [99])
        let sd = try c.stateDict(stripping: ["model."])
        XCTAssertEqual(Set(sd.keys), ["w", "n"])
    }

    func testBigEndianZip() throws {
        let be = [Float](arrayLiteral: 0, 1, 2, 3, 4, 5).flatMap { withUnsafeBytes(of: $0.bitPattern.bigEndian, Array.init) }
        var entries: [(path: String, data: [UInt8])] = [("ckpt/data.pkl", Self.edgePickle().bytes), ("ckpt/byteorder", Array("big".utf8))]
        entries.append(("ckpt/data/0", be))
        entries.append(("ckpt/data/1", withUnsafeBytes(of: Int64(99).bigEndian, Array.init)))
        let c = try PthReader.read(bytes: TinyZip.stored(entries), name: "be.pth")
        XCTAssertEqual(c.root["model"]?["w"]?.tensorValue?.tensor.scalars, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(c.root["model"]?["n"]?.tensorValue?.tensor.scalars, [99])
    }

    /// A legacy stream: magic, version, sys info, object (with a storage view), keys, records.
    static func legacyStream(truncateTail: Int = 0) -> [UInt8] {
        var out: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]
        var v = PickleWriter(); v.binint2(1001); v.stop(); out += v.bytes
        var s = PickleWriter(); s.emptyDict(); s.unicode("little_endian"); s.bool(true); s.setitem(); s.stop(); out += s.bytes
        var o = PickleWriter()
        o.emptyDict(); o.mark()
        o.unicode("a"); o.tensorV2(storage: "FloatStorage", key: "111", numel: 6, offset: 1, size: [2], stride: [2], legacy: true)
        // ('storage', FloatStorage, '111', 'cpu', 6, ('222', 2, 3)): a view of elements 2..<5
        o.unicode("view")
        o.global("torch._utils", "_rebuild_tensor_v2"); o.mark()
        o.mark(); o.unicode("storage"); o.global("torch", "FloatStorage"); o.unicode("111"); o.unicode("cpu"); o.int(6)
        o.unicode("222"); o.int(2); o.int(3); o.tuple3(); o.tuple(); o.binpersid()
        o.int(0); o.intTuple([3]); o.intTuple([1]); o.bool(false); o.global("collections", "OrderedDict"); o.emptyTuple(); o.reduce()
        o.tuple(); o.reduce()
        o.unicode("i"); o.tensorV2(storage: "LongStorage", key: "333", numel: 2, size: [2], stride: [1], legacy: true)
        o.setitems(); o.stop(); out += o.bytes
        var k = PickleWriter(); k.emptyList(); k.mark(); k.unicode("111"); k.unicode("333"); k.appends(); k.stop(); out += k.bytes
        out += leBytes(ints: [Int64(6)]) + leBytes(floats: [10, 11, 12, 13, 14, 15])
        out += leBytes(ints: [Int64(2)]) + leBytes(ints: [Int64(-1), 5])
        return Array(out.dropLast(truncateTail))
    }

    func testLegacyStream() throws {
        let c = try PthReader.read(bytes: Self.legacyStream(), name: "legacy.pth")
        XCTAssertEqual(c.format, .legacy)
        XCTAssertEqual(c.root["a"]?.tensorValue?.tensor.scalars, [11, 13])
        XCTAssertEqual(c.root["view"]?.tensorValue?.tensor.scalars, [12, 13, 14])
        XCTAssertEqual(c.root["i"]?.tensorValue?.tensor.scalars, [-1, 5])
    }

    func testReadFromPathMatchesBytes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pth-tests-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let zipURL = dir.appendingPathComponent("a.pth"), legacyURL = dir.appendingPathComponent("b.pth")
        try Data(Self.edgeZip()).write(to: zipURL)
        try Data(Self.legacyStream()).write(to: legacyURL)
        let z = try PthReader.read(path: zipURL.path)
        XCTAssertEqual(z.root["model"]?["w"]?.tensorValue?.tensor.scalars, [0, 3, 1, 4, 2, 5])
        let l = try PthReader.read(path: legacyURL.path)
        XCTAssertEqual(l.root["view"]?.tensorValue?.tensor.scalars, [12, 13, 14])
    }
}
