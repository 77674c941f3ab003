import Foundation

/// Every artifact is written to a temporary file beside its destination, synced, and renamed into
/// place, so a killed run never leaves a half-written file where a reader expects a whole one.
public enum AtomicFile {
    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try replace(path) { tmp in
            do { try data.write(to: URL(fileURLWithPath: tmp)) } catch {
                throw SamdgError(path, "writing failed: \(error.localizedDescription)")
            }
        }
    }

    /// Lets `body` create the whole new file at a temporary path (".<name>.tmp-<pid>-<random>"
    /// beside `path`), then fsyncs and renames it over `path`. If anything throws, the temporary
    /// file is removed and whatever was at `path` is left untouched; a killed process can leave
    /// only the dot-named temporary file, never a half-written `path`.
    public static func replace(_ path: String, _ body: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw SamdgError(path, "cannot create the directory \(dir.path)\(blocker(dir.path).map { ": \($0) is not a directory" } ?? "")")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        do {
            try body(tmp)
            try syncToDisk(tmp, place: path)
            guard rename(tmp, url.path) == 0 else {
                throw SamdgError(path, "renaming the temporary file \(tmp) into place failed: \(String(cString: strerror(errno)))")
            }
            try? syncToDisk(dir.path, place: path)   // make the rename durable (best effort)
        } catch let error as SamdgError {
            unlink(tmp)
            // Name the destination, not the temporary file the reader never sees.
            throw SamdgError(error.place.replacingOccurrences(of: tmp, with: path), "\(error.message) [\(path) is unchanged]")
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// The first existing component of `path` that is not a directory, if any.
    private static func blocker(_ path: String) -> String? {
        var prefix = ""
        for c in path.split(separator: "/") {
            prefix += "/" + c
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: prefix, isDirectory: &isDir) else { return nil }
            if !isDir.boolValue { return prefix }
        }
        return nil
    }

    /// fsync(2) of a file or directory by path.
    private static func syncToDisk(_ target: String, place: String) throws {
        let fd = open(target, O_RDONLY)
        guard fd >= 0 else { throw SamdgError(place, "cannot open \(target) to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SamdgError(place, "fsync of \(target) failed: \(String(cString: strerror(errno)))") }
    }
}
