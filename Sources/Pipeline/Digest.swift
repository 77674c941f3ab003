import Crypto
import Foundation
import Tensor

/// SHA-256 content digests (lower-case hex): the names of store objects and the inputs of
/// fingerprints.
public enum Digest {
    public static func of(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
    public static func of(_ text: String) -> String { of(Data(text.utf8)) }

    /// Streams the file in 1 MiB blocks.
    public static func of(file path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { throw SamdgError(path, "cannot open for hashing") }
        defer { try? h.close() }
        var hasher = SHA256()
        while true {
            let chunk = try h.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hex(hasher.finalize())
    }

    /// One digest over every regular file below `root` (relative paths and contents, sorted by
    /// path), for stages that read a folder of external data.
    public static func of(folder root: String, matching keep: (String) -> Bool = { _ in true }) throws -> String {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root) else { throw SamdgError(root, "cannot list the folder") }
        var files: [String] = []
        while let rel = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: root + "/" + rel, isDirectory: &isDir), !isDir.boolValue, keep(rel) { files.append(rel) }
        }
        var lines = ""
        for rel in files.sorted() { lines += "\(rel)\t\(try of(file: root + "/" + rel))\n" }
        return of(lines)
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 {
        d.map { String(format: "%02x", $0) }.joined()
    }
}
