import Foundation
import Tensor
import XCTest

final class NPYTests: XCTestCase {
    /// Builds a .npy file by hand (independent of `NPY.encode`).
    func file(version: UInt8 = 1, header: String, data: [UInt8]) -> [UInt8] {
        var h = header
        let pre = version == 1 ? 10 : 12
        while (pre + h.utf8.count + 1) % 64 != 0 { h += " " }
        h += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let n = h.utf8.count
        out += version == 1 ? [UInt8(n & 0xff), UInt8(n >> 8)] : [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), 0, 0]
        return out + Array(h.utf8) + data
    }

    func bytes<T>(_ v: [T]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    func testVersionsAndDtypes() throws {
        for v: UInt8 in [1, 2, 3] {
            let t = try NPY.decode(file(version: v, header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                        data: bytes([Float](arrayLiteral: 1, 2, 3, 4, 5, 6))))
            XCTAssertEqual(t.shape, [2, 3]); XCTAssertEqual(t.scalars, [1, 2, 3, 4, 5, 6])
        }
        let d = try NPY.decode(file(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", data: bytes([0.5, -2.0])))
        XCTAssertEqual(d.dtype, .float64); XCTAssertEqual(d.toFloat32().scalars, [0.5, -2])
        let i = try NPY.decode(file(header: "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", data: bytes([Int64](arrayLiteral: -1, 0, 7))))
        XCTAssertEqual(i.dtype, .int64); XCTAssertEqual(i.doubles, [-1, 0, 7])
        let u = try NPY.decode(file(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }", data: [0, 255, 3, 4]))
        XCTAssertEqual(u.scalars, [0, 255, 3, 4])
        let b = try NPY.decode(file(header: "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", data: [1, 0, 1]))
        XCTAssertEqual(b.dtype, .bool); XCTAssertEqual(b.scalars, [1, 0, 1])
        let s = try NPY.decode(file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", data: bytes([Float(3.5)])))
        XCTAssertEqual(s.shape, []); XCTAssertEqual(s.scalars, [3.5])
        let e = try NPY.decode(file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", data: []))
        XCTAssertEqual(e.shape, [0, 3]); XCTAssertEqual(e.count, 0)
    }

    func testFortranOrder() throws {
        // column-major [[1, 2, 3], [4, 5, 6]] is stored 1 4 2 5 3 6
        let t = try NPY.decode(file(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                    data: bytes([Float](arrayLiteral: 1, 4, 2, 5, 3, 6))))
        XCTAssertEqual(t.scalars, [1, 2, 3, 4, 5, 6])
        let t3 = try NPY.decode(file(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2, 2), }",
                                     data: bytes([Float](arrayLiteral: 0, 4, 2, 6, 1, 5, 3, 7))))
        XCTAssertEqual(t3.scalars, [0, 1, 2, 3, 4, 5, 6, 7])
    }

    func testRoundTripThroughFile() throws {
        let path = NSTemporaryDirectory() + "samdg-npy-\(getpid()).npy"
        defer { try? FileManager.default.removeItem(atPath: path) }
        for t in [Tensor(shape: [2, 2], [1, -2, 3, 4.5]), Tensor(scalar: 7), Tensor(zeros: [3, 1], dtype: .int64)] {
            try NPY.write(t, to: path)
            let r = try NPY.read(path)
            XCTAssertEqual(r.shape, t.shape); XCTAssertEqual(r.dtype, t.dtype); XCTAssertEqual(r.scalars, t.scalars)
        }
    }

    func testMalformedFilesGiveClearErrors() {
        func message(_ b: [UInt8]) -> String {
            do { _ = try NPY.decode(b, place: "bad.npy"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(Array("hello world!".utf8)).contains("magic"))
        XCTAssertTrue(message(Array(file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: []).prefix(20))).contains("truncated"))
        XCTAssertTrue(message(file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", data: [0, 0, 0, 0])).contains("needs 16 bytes"))
        XCTAssertTrue(message(file(header: "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", data: Array(repeating: 0, count: 8))).contains("unsupported dtype"))
        XCTAssertTrue(message(file(header: "{'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0])).contains("descr"))
        XCTAssertTrue(message(file(version: 9, header: "{}", data: [])).contains("version 9"))
        XCTAssertTrue(message(file(header: "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", data: [1, 7])).contains("bool"))
        XCTAssertTrue(message(file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", data: [])).contains("dimension"))
        XCTAssertTrue(message(Array(repeating: 0, count: 3)).contains("bad.npy"))
        XCTAssertThrowsError(try NPY.read("/nonexistent/x.npy")) { XCTAssertTrue("\($0)".contains("/nonexistent/x.npy")) }
    }
}
