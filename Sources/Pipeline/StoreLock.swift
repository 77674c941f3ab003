import Foundation
import Tensor
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on the store, held for the whole of a run: a second `samdg run` on the
/// same store stops at once with the holder's pid instead of racing on the same artifacts. The
/// kernel releases it when the process dies, so a killed run never leaves a stale lock.
public final class StoreLock {
    let fd: Int32
    public let path: String

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SamdgError(path, "cannot open the store lock: \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw SamdgError(path, "the store is in use by another samdg run (pid \(holder.isEmpty ? "?" : holder)); wait for it or stop it")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    deinit {
        ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
