import CZlibSystem
import Datasets
import Foundation
import Tensor
import XCTest

/// Paths and helpers shared by the codec, import, domain-file and phantom tests.
enum Fixtures {
    /// ../shared/data next to the package (Tests/DatasetsTests/X.swift → <package>/../shared/data).
    static let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data").standardized.path

    /// A folder under ../shared/data, or a skip when it is absent.
    static func shared(_ relative: String) throws -> String {
        let path = (sharedData as NSString).appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no \(path)") }
        return path
    }

    /// A fresh empty directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) throws -> String {
        let dir = NSTemporaryDirectory() + "samdg-data-\(name.filter { $0.isLetter || $0.isNumber })-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func fileBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// A uint8 `[H, W, C]` (or `[H, W]` when `channels` is nil) tensor from a pixel function.
    static func image(_ h: Int, _ w: Int, channels: Int? = 3, _ f: (Int, Int, Int) -> UInt8) -> Tensor {
        let c = channels ?? 1
        let t = Tensor(zeros: channels == nil ? [h, w] : [h, w, c], dtype: .uint8)
        let b = t.buffer(UInt8.self)
        for y in 0..<h { for x in 0..<w { for k in 0..<c { b[(y * w + x) * c + k] = f(y, x, k) } } }
        return t
    }

    static func sum(_ t: Tensor) -> Double { t.scalars.reduce(0.0) { $0 + Double($1) } }

    /// zlib's deflate of `data` (for hand-built PNGs and NIfTI files).
    static func deflate(_ data: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = compress(&out, &size, data, uLong(data.count))
        precondition(status == Z_OK)
        return Array(out[..<Int(size)])
    }

    static func crc(_ data: [UInt8]) -> UInt32 { UInt32(crc32(0, data, uInt(data.count))) }

    /// gzip-compresses `data` into `path` with zlib's gzwrite.
    static func writeGzip(_ data: [UInt8], to path: String) {
        let f = gzopen(path, "wb")!
        _ = data.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32(data.count)) }
        gzclose(f)
    }
}

/// Asserts that `body` throws a `SamdgError` whose text contains every one of `parts`.
func assertThrows<T>(_ body: @autoclosure () throws -> T, mentioning parts: [String],
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssert(error is SamdgError, "expected a SamdgError, got \(type(of: error)): \(error)", file: file, line: line)
        let text = "\(error)"
        for p in parts { XCTAssert(text.contains(p), "error \"\(text)\" does not mention \"\(p)\"", file: file, line: line) }
    }
}
