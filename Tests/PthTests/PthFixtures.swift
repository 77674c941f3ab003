import Foundation
import XCTest

/// The golden folder (../shared/golden next to the package), or a skip when it is absent.
func goldenRoot(file: StaticString = #filePath) throws -> String {
    // Tests/PthTests/X.swift → <package>/../shared/golden
    let url = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/golden")
    guard FileManager.default.fileExists(atPath: url.appendingPathComponent("manifest.json").path) else {
        throw XCTSkip("golden folder \(url.path) is absent")
    }
    return url.path
}

/// Writes pickle bytes opcode by opcode, so a test reads like `pickletools.dis` output.
struct PickleWriter {
    var bytes: [UInt8] = []

    init(protocol p: UInt8 = 2) { if p >= 2 { bytes = [0x80, p] } }

    private mutating func le(_ v: UInt64, _ n: Int) { for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }

    mutating func op(_ b: UInt8) { bytes.append(b) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func text(_ s: String) { bytes += Array(s.utf8) }

    mutating func mark() { op(0x28) }
    mutating func stop() { op(0x2E) }
    mutating func pop() { op(0x30) }
    mutating func none() { op(0x4E) }
    mutating func bool(_ b: Bool) { op(b ? 0x88 : 0x89) }
    mutating func binint1(_ v: UInt8) { op(0x4B); op(v) }
    mutating func binint2(_ v: UInt16) { op(0x4D); le(UInt64(v), 2) }
    mutating func binint(_ v: Int32) { op(0x4A); le(UInt64(UInt32(bitPattern: v)), 4) }
    /// LONG1 with the minimal two's-complement byte count.
    mutating func long1(_ v: Int64) {
        var n = 1
        while n < 8, !(v >= -(Int64(1) << (8 * Int64(n) - 1)) && v < (Int64(1) << (8 * Int64(n) - 1))) { n += 1 }
        op(0x8A); op(UInt8(n)); le(UInt64(bitPattern: v), n)
    }
    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 { binint1(UInt8(v)) } else if v >= Int(Int32.min) && v <= Int(Int32.max) { binint(Int32(v)) } else { long1(Int64(v)) }
    }
    mutating func binfloat(_ d: Double) { op(0x47); let b = d.bitPattern; for i in (0..<8).reversed() { op(UInt8(truncatingIfNeeded: b >> (8 * UInt64(i)))) } }
    mutating func unicode(_ s: String) { let u = Array(s.utf8); op(0x58); le(UInt64(u.count), 4); raw(u) }
    mutating func shortUnicode(_ s: String) { let u = Array(s.utf8); op(0x8C); op(UInt8(u.count)); raw(u) }
    mutating func unicode8(_ s: String) { let u = Array(s.utf8); op(0x8D); le(UInt64(u.count), 8); raw(u) }
    mutating func binbytes(_ b: [UInt8]) { op(0x42); le(UInt64(b.count), 4); raw(b) }
    mutating func shortBinbytes(_ b: [UInt8]) { op(0x43); op(UInt8(b.count)); raw(b) }
    mutating func global(_ module: String, _ name: String) { op(0x63); text(module + "\n" + name + "\n") }
    mutating func stackGlobal() { op(0x93) }
    mutating func binput(_ i: UInt8) { op(0x71); op(i) }
    mutating func longBinput(_ i: UInt32) { op(0x72); le(UInt64(i), 4) }
    mutating func binget(_ i: UInt8) { op(0x68); op(i) }
    mutating func longBinget(_ i: UInt32) { op(0x6A); le(UInt64(i), 4) }
    mutating func memoize() { op(0x94) }
    mutating func frame(_ n: UInt64) { op(0x95); le(n, 8) }
    mutating func emptyDict() { op(0x7D) }
    mutating func emptyList() { op(0x5D) }
    mutating func emptyTuple() { op(0x29) }
    mutating func tuple() { op(0x74) }
    mutating func tuple1() { op(0x85) }
    mutating func tuple2() { op(0x86) }
    mutating func tuple3() { op(0x87) }
    mutating func append() { op(0x61) }
    mutating func appends() { op(0x65) }
    mutating func setitem() { op(0x73) }
    mutating func setitems() { op(0x75) }
    mutating func reduce() { op(0x52) }
    mutating func build() { op(0x62) }
    mutating func newobj() { op(0x81) }
    mutating func binpersid() { op(0x51) }

    /// `(size…)` or `(stride…)` as a tuple.
    mutating func intTuple(_ xs: [Int]) {
        switch xs.count {
        case 0: emptyTuple()
        case 1: int(xs[0]); tuple1()
        case 2: int(xs[0]); int(xs[1]); tuple2()
        case 3: int(xs[0]); int(xs[1]); int(xs[2]); tuple3()
        default: mark(); for x in xs { int(x) }; tuple()
        }
    }

    /// `_rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size, stride,
    /// False, OrderedDict())` as torch writes it; `legacyView` adds the sixth pid field.
    mutating func tensorV2(storage cls: String, key: String, numel: Int, offset: Int = 0, size: [Int], stride: [Int],
                           requiresGrad: Bool = false, legacy: Bool = false) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); unicode("storage"); global("torch", cls); unicode(key); unicode("cpu"); int(numel)
        if legacy { none() }
        tuple(); binpersid()
        int(offset); intTuple(size); intTuple(stride); bool(requiresGrad)
        global("collections", "OrderedDict"); emptyTuple(); reduce()
        tuple(); reduce()
    }
}

/// Little-endian bytes of values.
func leBytes(floats: [Float]) -> [UInt8] { floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }
func leBytes(ints: [Int64]) -> [UInt8] { ints.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } }

/// A minimal zip writer (stored entries, CRC-32) for hand-built `.pth` archives in tests.
enum TinyZip {
    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    static func stored(_ entries: [(path: String, data: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        for e in entries {
            let name = Array(e.path.utf8), crc = crc32(e.data), offset = UInt32(out.count)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out); u32(UInt32(e.data.count), &out); u32(UInt32(e.data.count), &out)
            u16(name.count, &out); u16(0, &out); out += name; out += e.data

            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0x21, &central); u32(crc, &central); u32(UInt32(e.data.count), &central)
            u32(UInt32(e.data.count), &central); u16(name.count, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(offset, &central); central += name
        }
        let cdOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }
}

/// Asserts `body` throws an error whose text contains every fragment.
func assertThrows(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch {
        let text = "\(error)"
        for f in fragments where !text.contains(f) {
            XCTFail("error \"\(text)\" does not contain \"\(f)\"", file: file, line: line)
        }
    }
}
