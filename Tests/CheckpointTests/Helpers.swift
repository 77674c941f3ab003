import Foundation
import Tensor
import XCTest

/// A fresh empty directory under the system temp dir, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) throws -> String {
    let dir = NSTemporaryDirectory() + "samdg-ckpt-\(name.filter { $0.isLetter || $0.isNumber })-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

/// The raw bytes of a tensor, for bit-for-bit comparisons (NaN payloads and signed zeros included).
func bytes(_ t: Tensor) -> [UInt8] {
    Array(UnsafeRawBufferPointer(start: t.storage.raw, count: t.count * t.dtype.size))
}

/// Asserts two tensors have the same dtype, shape and bits.
func assertIdentical(_ a: Tensor?, _ b: Tensor?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    guard let a, let b else { return XCTFail("\(what): missing tensor", file: file, line: line) }
    XCTAssertEqual(a.dtype, b.dtype, "\(what) dtype", file: file, line: line)
    XCTAssertEqual(a.shape, b.shape, "\(what) shape", file: file, line: line)
    XCTAssertEqual(bytes(a), bytes(b), "\(what) bits", file: file, line: line)
}

func assertIdentical(_ a: [String: Tensor], _ b: [String: Tensor], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.keys.sorted(), b.keys.sorted(), "\(what) keys", file: file, line: line)
    for k in a.keys.sorted() where b[k] != nil { assertIdentical(a[k], b[k], "\(what) \(k)", file: file, line: line) }
}

/// Files in `dir` whose names mark them as temporary checkpoint files.
func temporaryFiles(in dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp-") }
}

/// Asserts `body` throws an error whose text contains every one of `parts`.
func assertThrows<T>(_ body: @autoclosure () throws -> T, mentioning parts: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        let text = "\(error)"
        for p in parts { XCTAssertTrue(text.contains(p), "expected \"\(p)\" in: \(text)", file: file, line: line) }
    }
}
