import XCTest
import Models
import Tensor

/// Corrupt, truncated and unsupported inputs: each must fail with an error naming the file and
/// the problem, never crash.
final class BadInputTests: XCTestCase {
    func testEmptyAndGarbage() {
        assertThrows(["empty.pth", "empty"]) { _ = try PthReader.read(bytes: [], name: "empty.pth") }
        assertThrows(["junk.pth", "neither a zip archive", "de ad be ef"]) {
            _ = try PthReader.read(bytes: [0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3], name: "junk.pth")
        }
        assertThrows(["plain.pkl", "legacy magic number"]) {
            _ = try PthReader.read(bytes: [0x80, 0x02, 0x4E, 0x2E], name: "plain.pkl")
        }
        assertThrows(["/nonexistent/x.pth", "cannot open"]) { _ = try PthReader.read(path: "/nonexistent/x.pth") }
    }

    func testTruncatedZip() {
        let zip = ContainerFormatTests.edgeZip()
        for keep in [zip.count / 2, zip.count - 10, 30] {
            assertThrows(["cut.pth", "zip"]) { _ = try PthReader.read(bytes: Array(zip.prefix(keep)), name: "cut.pth") }
        }
    }

    func testCorruptZipEntryFailsCRC() {
        var zip = ContainerFormatTests.edgeZip()
        // flip a byte inside the first float of ckpt/data/0
        let name = Array("ckpt/data/0".utf8)
        guard let at = (0..<(zip.count - name.count)).first(where: { Array(zip[$0..<($0 + name.count)]) == name }) else {
            return XCTFail("entry name not found")
        }
        zip[at + name.count + 1] ^= 0xFF
        assertThrows(["crc.pth", "ckpt/data/0", "CRC"]) { _ = try PthReader.read(bytes: zip, name: "crc.pth") }
    }

    func testMissingStorageEntry() {
        let zip = ContainerFormatTests.edgeZip(dropStorage: "1")
        assertThrows(["miss.pth", "storage entry 'ckpt/data/1'", "missing", "LongStorage"]) {
            _ = try PthReader.read(bytes: zip, name: "miss.pth")
        }
    }

    func testMissingDataPkl() {
        let zip = TinyZip.stored([("x/version", Array("3\n".utf8))])
        assertThrows(["nopkl.pth", "no data.pkl"]) { _ = try PthReader.read(bytes: zip, name: "nopkl.pth") }
    }

    func testStorageTooSmallForView() {
        let zip = ContainerFormatTests.edgeZip(floats: leBytes(floats: [0, 1, 2]))
        assertThrows(["small.pth", "storage '0'", "holds 12 bytes", "6 elements"]) {
            _ = try PthReader.read(bytes: zip, name: "small.pth")
        }
        var w = PickleWriter()
        w.tensorV2(storage: "FloatStorage", key: "0", numel: 4, offset: 2, size: [2, 2], stride: [2, 1]); w.stop()
        assertThrows(["v.pkl", "reaches element 5", "only 4 elements"]) {
            _ = try PthReader.unpickle(w.bytes, name: "v.pkl", storages: ["0": leBytes(floats: [0, 1, 2, 3])])
        }
    }

    func testUnknownOpcode() {
        assertThrows(["op.pkl", "unknown pickle opcode 0xFF at byte 2"]) {
            _ = try PthReader.unpickle([0x80, 0x02, 0xFF, 0x2E], name: "op.pkl")
        }
        // inside a zip: the error names the archive entry
        let zip = TinyZip.stored([("a/data.pkl", [0x80, 0x02, 0x7D, 0x01, 0x2E])])
        assertThrows(["bad.pth: a/data.pkl", "unknown pickle opcode 0x1 at byte 3"]) {
            _ = try PthReader.read(bytes: zip, name: "bad.pth")
        }
        assertThrows(["inst.pkl", "INST", "not supported"]) {
            _ = try PthReader.unpickle(Array("(imod\ncls\n.".utf8), name: "inst.pkl")
        }
    }

    func testTruncatedPickle() {
        var w = PickleWriter(); w.op(0x58); w.raw([100, 0, 0, 0]); w.text("abc")
        assertThrows(["t.pkl", "truncated", "BINUNICODE", "declares 100"]) { _ = try PthReader.unpickle(w.bytes, name: "t.pkl") }
        assertThrows(["t.pkl", "truncated", "opcode"]) { _ = try PthReader.unpickle([0x80, 0x02, 0x4E], name: "t.pkl") }
        assertThrows(["t.pkl", "truncated", "BININT"]) { _ = try PthReader.unpickle([0x80, 0x02, 0x4A, 1], name: "t.pkl") }
    }

    func testMalformedStructure() {
        assertThrows(["s.pkl", "stack underflow", "APPEND at byte 2"]) { _ = try PthReader.unpickle([0x80, 0x02, 0x61, 0x2E], name: "s.pkl") }
        assertThrows(["s.pkl", "memo key 5", "BINGET"]) { _ = try PthReader.unpickle([0x80, 0x02, 0x68, 5, 0x2E], name: "s.pkl") }
        assertThrows(["s.pkl", "no MARK", "TUPLE"]) { _ = try PthReader.unpickle([0x80, 0x02, 0x4E, 0x74, 0x2E], name: "s.pkl") }
        assertThrows(["s.pkl", "SETITEM on None", "expected a dict"]) {
            _ = try PthReader.unpickle([0x80, 0x02, 0x4E, 0x4E, 0x4E, 0x73, 0x2E], name: "s.pkl")
        }
        // a list that contains itself
        assertThrows(["s.pkl", "contains itself"]) {
            _ = try PthReader.unpickle([0x80, 0x02, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E], name: "s.pkl")
        }
        // 200k nested empty tuples would overflow a recursive decoder
        var deep: [UInt8] = [0x80, 0x02]
        for _ in 0..<200_000 { deep.append(0x28) }
        deep += [0x29]
        for _ in 0..<200_000 { deep.append(0x74) }
        deep.append(0x2E)
        assertThrows(["deep.pkl", "nest deeper"]) { _ = try PthReader.unpickle(deep, name: "deep.pkl") }
    }

    func testUnsupportedGlobalsAndStorages() {
        var w = PickleWriter(); w.global("os", "system"); w.unicode("rm -rf /"); w.tuple1(); w.reduce(); w.stop()
        assertThrows(["g.pkl", "unsupported global os.system", "REDUCE at byte"]) { _ = try PthReader.unpickle(w.bytes, name: "g.pkl") }
        var s = PickleWriter()
        s.tensorV2(storage: "ComplexFloatStorage", key: "0", numel: 1, size: [1], stride: [1]); s.stop()
        assertThrows(["c.pkl", "unsupported storage type torch.ComplexFloatStorage", "BINPERSID"]) {
            _ = try PthReader.unpickle(s.bytes, name: "c.pkl", storages: ["0": [0, 0, 0, 0, 0, 0, 0, 0]])
        }
        var m = PickleWriter(); m.mark(); m.unicode("module"); m.none(); m.none(); m.none(); m.tuple(); m.binpersid(); m.stop()
        assertThrows(["m.pkl", "nn.Module"]) { _ = try PthReader.unpickle(m.bytes, name: "m.pkl") }
        var r = PickleWriter()
        r.global("torch._utils", "_rebuild_tensor_v2"); r.binint1(1); r.tuple1(); r.reduce(); r.stop()
        assertThrows(["r.pkl", "_rebuild_tensor_v2 got 1 arguments", "at least 4"]) { _ = try PthReader.unpickle(r.bytes, name: "r.pkl") }
    }

    func testLegacyTruncated() {
        assertThrows(["l.pth", "legacy storage data", "truncated"]) {
            _ = try PthReader.read(bytes: ContainerFormatTests.legacyStream(truncateTail: 4), name: "l.pth")
        }
        let stream = ContainerFormatTests.legacyStream()
        assertThrows(["l.pth", "legacy", "truncated"]) { _ = try PthReader.read(bytes: Array(stream.prefix(200)), name: "l.pth") }
    }
}
