import XCTest
import Models
import Tensor

/// Hand-built pickles through `PthReader.unpickle`, one test per family of opcodes.
final class PickleOpcodeTests: XCTestCase {
    private func decode(_ w: PickleWriter, storages: [String: [UInt8]] = [:], options: PthOptions = PthOptions()) throws -> PickleValue {
        try PthReader.unpickle(w.bytes, name: "test.pkl", storages: storages, options: options)
    }

    func testScalarsStringsAndBytes() throws {
        var w = PickleWriter()
        w.emptyDict(); w.binput(0); w.mark()
        w.unicode("k1"); w.binint1(200)
        w.unicode("k2"); w.binint2(60000)
        w.unicode("k3"); w.binint(-123456)
        w.unicode("k4"); w.long1(-5_000_000_000)
        w.unicode("k5"); w.long1(Int64.max)
        w.unicode("k6"); w.binfloat(-2.25)
        w.unicode("k7"); w.none()
        w.unicode("k8"); w.bool(true)
        w.unicode("k9"); w.bool(false)
        w.shortUnicode("k10"); w.shortUnicode("héllo")
        w.unicode8("k11"); w.unicode8("x")
        w.unicode("k12"); w.binbytes([1, 2, 3])
        w.unicode("k13"); w.shortBinbytes([9])
        w.setitems(); w.stop()
        let v = try decode(w)
        XCTAssertEqual(v["k1"]?.intValue, 200)
        XCTAssertEqual(v["k2"]?.intValue, 60000)
        XCTAssertEqual(v["k3"]?.intValue, -123456)
        XCTAssertEqual(v["k4"]?.intValue, -5_000_000_000)
        XCTAssertEqual(v["k5"]?.intValue, Int.max)
        XCTAssertEqual(v["k6"]?.doubleValue, -2.25)
        XCTAssertEqual(v["k7"]?.isNone, true)
        XCTAssertEqual(v["k8"]?.boolValue, true)
        XCTAssertEqual(v["k9"]?.boolValue, false)
        XCTAssertEqual(v["k10"]?.stringValue, "héllo")
        XCTAssertEqual(v["k11"]?.stringValue, "x")
        guard case .bytes(let b)? = v["k12"], case .bytes(let c)? = v["k13"] else { return XCTFail("bytes") }
        XCTAssertEqual(b, [1, 2, 3]); XCTAssertEqual(c, [9])
    }

    func testTuplesListsAndDictOrder() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("t0"); w.emptyTuple()
        w.unicode("t1"); w.binint1(1); w.tuple1()
        w.unicode("t2"); w.binint1(1); w.binint1(2); w.tuple2()
        w.unicode("t3"); w.binint1(1); w.binint1(2); w.binint1(3); w.tuple3()
        w.unicode("t4"); w.mark(); w.binint1(1); w.binint1(2); w.binint1(3); w.binint1(4); w.tuple()
        w.unicode("l"); w.emptyList(); w.binint1(7); w.append(); w.mark(); w.binint1(8); w.binint1(9); w.appends()
        w.setitems()
        // SETITEM, and a repeated key that replaces the earlier value in place (Python dict order)
        w.unicode("z"); w.binint1(1); w.setitem()
        w.unicode("t0"); w.unicode("replaced"); w.setitem()
        w.stop()
        let v = try decode(w)
        guard case .dict(let entries) = v else { return XCTFail("not a dict") }
        XCTAssertEqual(entries.map { $0.key.stringValue ?? "" }, ["t0", "t1", "t2", "t3", "t4", "l", "z"])
        XCTAssertEqual(v["t0"]?.stringValue, "replaced")
        XCTAssertEqual(v["t1"]?.items?.compactMap(\.intValue), [1])
        XCTAssertEqual(v["t2"]?.items?.compactMap(\.intValue), [1, 2])
        XCTAssertEqual(v["t3"]?.items?.compactMap(\.intValue), [1, 2, 3])
        XCTAssertEqual(v["t4"]?.items?.compactMap(\.intValue), [1, 2, 3, 4])
        XCTAssertEqual(v["l"]?.items?.compactMap(\.intValue), [7, 8, 9])
    }

    /// A memoised list mutated after BINPUT is seen through every BINGET (reference semantics).
    func testMemoSharesMutableContainers() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("a"); w.emptyList(); w.binput(1)
        w.unicode("b"); w.binget(1)
        w.setitems()
        w.binget(1); w.binint1(5); w.append(); w.pop()
        w.stop()
        let v = try decode(w)
        XCTAssertEqual(v["a"]?.items?.compactMap(\.intValue), [5])
        XCTAssertEqual(v["b"]?.items?.compactMap(\.intValue), [5])
    }

    /// Protocol 4 as `pickle.dumps(..., protocol=4)` writes it: FRAME, STACK_GLOBAL, MEMOIZE.
    func testProtocol4FrameStackGlobalMemoize() throws {
        var body = PickleWriter(protocol: 0)
        body.shortUnicode("collections"); body.memoize(); body.shortUnicode("OrderedDict"); body.memoize()
        body.stackGlobal(); body.memoize(); body.emptyTuple(); body.reduce(); body.memoize()
        body.mark(); body.shortUnicode("w"); body.memoize(); body.binint1(3)
        body.shortUnicode("again"); body.binget(4); body.setitems()   // memo 4 = 'w'
        body.longBinput(1000); body.pop(); body.longBinget(1000)
        body.stop()
        var w = PickleWriter(protocol: 4)
        w.frame(UInt64(body.bytes.count)); w.raw(body.bytes)
        let v = try decode(w)
        XCTAssertEqual(v["w"]?.intValue, 3)
        XCTAssertEqual(v["again"]?.stringValue, "w")
    }

    /// Protocol 0/1 text opcodes (INT, LONG, FLOAT, STRING, UNICODE, PUT/GET, DICT, LIST).
    func testProtocol0TextOpcodes() throws {
        var w = PickleWriter(protocol: 0)
        w.mark()
        w.text("S'i'\n"); w.text("I42\n")
        w.text("S'b'\n"); w.text("I01\n")
        w.text("S'l'\n"); w.text("L-7L\n")
        w.text("S'f'\n"); w.text("F0.5\n")
        w.text("S's'\n"); w.text("S'it\\'s'\n")
        w.text("S'u'\n"); w.text("Vcaf\\u00e9\n"); w.text("p0\n")
        w.text("S'g'\n"); w.text("g0\n")
        w.text("S'list'\n"); w.mark(); w.text("I1\n"); w.text("I2\n"); w.text("l")
        w.text("d"); w.stop()
        let v = try decode(w)
        XCTAssertEqual(v["i"]?.intValue, 42)
        XCTAssertEqual(v["b"]?.boolValue, true)
        XCTAssertEqual(v["l"]?.intValue, -7)
        XCTAssertEqual(v["f"]?.doubleValue, 0.5)
        XCTAssertEqual(v["s"]?.stringValue, "it's")
        XCTAssertEqual(v["u"]?.stringValue, "café")
        XCTAssertEqual(v["g"]?.stringValue, "café")
        XCTAssertEqual(v["list"]?.items?.compactMap(\.intValue), [1, 2])
    }

    /// NEWOBJ of OrderedDict, BUILD with a `_metadata` state (ignored), `_rebuild_parameter`,
    /// `_codecs.encode` bytes and `torch.Size`.
    func testNewobjBuildParameterCodecs() throws {
        var w = PickleWriter()
        w.global("collections", "OrderedDict"); w.emptyTuple(); w.newobj(); w.mark()
        w.unicode("p")
        w.global("torch._utils", "_rebuild_parameter")
        w.tensorV2(storage: "FloatStorage", key: "0", numel: 2, size: [2], stride: [1])
        w.bool(true); w.global("collections", "OrderedDict"); w.emptyTuple(); w.reduce(); w.tuple3(); w.reduce()
        w.unicode("raw"); w.global("_codecs", "encode"); w.unicode("\u{01}\u{ff}"); w.unicode("latin1"); w.tuple2(); w.reduce()
        w.unicode("size"); w.global("torch", "Size"); w.intTuple([2, 3]); w.tuple1(); w.reduce()
        w.setitems()
        w.emptyDict(); w.unicode("_metadata"); w.emptyDict(); w.setitem(); w.build()
        w.stop()
        let v = try decode(w, storages: ["0": leBytes(floats: [1.5, -2])])
        let p = try XCTUnwrap(v["p"]?.tensorValue)
        XCTAssertTrue(p.requiresGrad)
        XCTAssertEqual(p.tensor.scalars, [1.5, -2])
        guard case .bytes(let b)? = v["raw"] else { return XCTFail("raw") }
        XCTAssertEqual(b, [1, 255])
        XCTAssertEqual(v["size"]?.items?.compactMap(\.intValue), [2, 3])
    }

    /// Views keep offset and strides: transposes and slices of one storage.
    func testTensorViewsHonourOffsetAndStride() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("base"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, size: [3, 4], stride: [4, 1])
        w.unicode("t"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, size: [4, 3], stride: [1, 4])
        w.unicode("rows"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, offset: 4, size: [2, 4], stride: [4, 1])
        w.unicode("cols"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, offset: 1, size: [3, 2], stride: [4, 2])
        w.unicode("bcast"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, offset: 2, size: [2, 3], stride: [0, 1])
        w.unicode("r3"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 12, size: [2, 2, 3], stride: [1, 6, 2])
        w.setitems(); w.stop()
        let v = try decode(w, storages: ["0": leBytes(floats: (0..<12).map(Float.init))])
        XCTAssertEqual(v["base"]?.tensorValue?.tensor.scalars, (0..<12).map(Float.init))
        XCTAssertEqual(v["t"]?.tensorValue?.shape, [4, 3])
        XCTAssertEqual(v["t"]?.tensorValue?.tensor.scalars, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertEqual(v["rows"]?.tensorValue?.tensor.scalars, [4, 5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(v["cols"]?.tensorValue?.tensor.scalars, [1, 3, 5, 7, 9, 11])
        XCTAssertEqual(v["bcast"]?.tensorValue?.tensor.scalars, [2, 3, 4, 2, 3, 4])
        XCTAssertEqual(v["r3"]?.tensorValue?.tensor.scalars, [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11])
    }

    func testDTypes() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("half"); w.tensorV2(storage: "HalfStorage", key: "h", numel: 5, size: [5], stride: [1])
        w.unicode("bf16"); w.tensorV2(storage: "BFloat16Storage", key: "b", numel: 3, size: [3], stride: [1])
        w.unicode("long"); w.tensorV2(storage: "LongStorage", key: "l", numel: 2, size: [2], stride: [1])
        w.unicode("int"); w.tensorV2(storage: "IntStorage", key: "i", numel: 2, size: [2], stride: [1])
        w.unicode("bool"); w.tensorV2(storage: "BoolStorage", key: "z", numel: 3, size: [3], stride: [1])
        w.unicode("u8"); w.tensorV2(storage: "ByteStorage", key: "u", numel: 2, size: [2], stride: [1])
        w.unicode("f64"); w.tensorV2(storage: "DoubleStorage", key: "d", numel: 1, size: [], stride: [])
        w.setitems(); w.stop()
        // half: 1, -2, 65504 (max), 2⁻²⁴ (smallest subnormal), -0; bf16: 1, -3, 0.5
        let storages: [String: [UInt8]] = [
            "h": [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00, 0x00, 0x80],
            "b": [0x80, 0x3F, 0x40, 0xC0, 0x00, 0x3F],
            "l": leBytes(ints: [Int64(-9_000_000_000), 42]),
            "i": [0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x00, 0x00],
            "z": [1, 0, 2],
            "u": [0, 255],
            "d": withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian, Array.init),
        ]
        let v = try decode(w, storages: storages)
        let half = try XCTUnwrap(v["half"]?.tensorValue)
        XCTAssertEqual(half.sourceDType, .float16); XCTAssertEqual(half.tensor.dtype, .float32)
        XCTAssertEqual(half.tensor.scalars, [1, -2, 65504, 0x1p-24, 0])
        XCTAssertEqual(half.tensor.scalars.last?.sign, .minus)
        let bf = try XCTUnwrap(v["bf16"]?.tensorValue)
        XCTAssertEqual(bf.sourceDType, .bfloat16); XCTAssertEqual(bf.tensor.scalars, [1, -3, 0.5])
        let long = try XCTUnwrap(v["long"]?.tensorValue)
        XCTAssertEqual(long.tensor.dtype, .int64); XCTAssertEqual(Array(long.tensor.buffer(Int64.self)), [-9_000_000_000, 42])
        let int = try XCTUnwrap(v["int"]?.tensorValue)
        XCTAssertEqual(int.sourceDType, .int32); XCTAssertEqual(Array(int.tensor.buffer(Int64.self)), [-1, 7])
        let bool = try XCTUnwrap(v["bool"]?.tensorValue)
        XCTAssertEqual(bool.tensor.dtype, .bool); XCTAssertEqual(bool.tensor.scalars, [1, 0, 1])
        XCTAssertEqual(v["u8"]?.tensorValue?.tensor.scalars, [0, 255])
        let d = try XCTUnwrap(v["f64"]?.tensorValue)
        XCTAssertEqual(d.shape, []); XCTAssertEqual(d.tensor.doubles, [0.1])
    }

    func testScalarAndEmptyTensors() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("scalar"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 3, offset: 2, size: [], stride: [])
        w.unicode("empty"); w.tensorV2(storage: "FloatStorage", key: "e", numel: 0, size: [0, 3], stride: [3, 1])
        w.setitems(); w.stop()
        let v = try decode(w, storages: ["0": leBytes(floats: [1, 2, 3.5]), "e": []])
        XCTAssertEqual(v["scalar"]?.tensorValue?.shape, [])
        XCTAssertEqual(v["scalar"]?.tensorValue?.tensor.scalars, [3.5])
        XCTAssertEqual(v["empty"]?.tensorValue?.shape, [0, 3])
        XCTAssertEqual(v["empty"]?.tensorValue?.tensor.count, 0)
    }

    /// `_rebuild_tensor_v3` on an untyped (byte) storage with an explicit dtype.
    func testRebuildTensorV3UntypedStorage() throws {
        var w = PickleWriter()
        w.global("torch._utils", "_rebuild_tensor_v3")
        w.mark()
        w.mark(); w.unicode("storage"); w.global("torch", "UntypedStorage"); w.unicode("0"); w.unicode("cpu"); w.int(6); w.tuple(); w.binpersid()
        w.int(1); w.intTuple([2]); w.intTuple([1]); w.bool(false); w.global("collections", "OrderedDict"); w.emptyTuple(); w.reduce()
        w.global("torch", "float16")
        w.tuple(); w.reduce(); w.stop()
        let v = try decode(w, storages: ["0": [0x00, 0x00, 0x00, 0x3C, 0x00, 0x40]])
        let t = try XCTUnwrap(v.tensorValue)
        XCTAssertEqual(t.sourceDType, .float16)
        XCTAssertEqual(t.tensor.scalars, [1, 2])
    }

    func testUnknownGlobalIsKeptOnlyWhenAsked() throws {
        var w = PickleWriter()
        w.global("argparse", "Namespace"); w.emptyTuple(); w.reduce()
        w.emptyDict(); w.unicode("lr"); w.binfloat(0.1); w.setitem(); w.build(); w.stop()
        assertThrows(["test.pkl", "unsupported global argparse.Namespace", "REDUCE at byte"]) { _ = try self.decode(w) }
        let v = try decode(w, options: PthOptions(keepUnknownObjects: true))
        guard case .object(let type, _, let state) = v else { return XCTFail("expected an object") }
        XCTAssertEqual(type, "argparse.Namespace")
        XCTAssertEqual(state?["lr"]?.doubleValue, 0.1)
    }

    func testStateDictFlattensAndStrips() throws {
        var w = PickleWriter()
        w.emptyDict(); w.mark()
        w.unicode("model"); w.emptyDict(); w.mark()
        w.unicode("enc.w"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 2, size: [2], stride: [1])
        w.unicode("dec"); w.emptyDict(); w.unicode("b"); w.tensorV2(storage: "FloatStorage", key: "0", numel: 2, offset: 1, size: [1], stride: [1]); w.setitem()
        w.setitems()
        w.unicode("epoch"); w.binint1(3)
        w.unicode("hist"); w.emptyList(); w.tensorV2(storage: "FloatStorage", key: "0", numel: 2, size: [], stride: []); w.append()
        w.setitems(); w.stop()
        let v = try decode(w, storages: ["0": leBytes(floats: [4, 5])])
        XCTAssertEqual(v.tensors().map(\.key), ["model.enc.w", "model.dec.b", "hist.0"])
        let sd = try v.stateDict(stripping: ["model."])
        XCTAssertEqual(Set(sd.keys), ["enc.w", "dec.b", "hist.0"])
        XCTAssertEqual(sd["dec.b"]?.scalars, [5])
        XCTAssertEqual(v["epoch"]?.intValue, 3)
        // Stripping that merges two keys is an error naming the key.
        var c = PickleWriter()
        c.emptyDict(); c.mark()
        c.unicode("module.w"); c.tensorV2(storage: "FloatStorage", key: "0", numel: 2, size: [2], stride: [1])
        c.unicode("w"); c.tensorV2(storage: "FloatStorage", key: "0", numel: 2, size: [2], stride: [1])
        c.setitems(); c.stop()
        let dup = try decode(c, storages: ["0": leBytes(floats: [4, 5])])
        assertThrows(["\"w\"", "unique"]) { _ = try dup.stateDict(stripping: ["module."]) }
    }
}
