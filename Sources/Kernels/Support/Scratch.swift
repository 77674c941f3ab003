import Foundation
import Tensor

/// Reusable scratch buffers for kernel temporaries (convolution column matrices). A fresh
/// multi-megabyte allocation is mapped and zero-filled by the OS page by page on first touch,
/// which costs about as much as filling it; so buffers go back to a small locked pool after use
/// (at most 4 kept; the smallest one that fits is taken).
enum Scratch {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Storage] = []

    /// Runs `body` with at least `n` floats of uninitialised scratch.
    static func withBuffer<R>(floats n: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        let bytes = n * 4
        lock.lock()
        var taken: Storage? = nil
        if let i = free.indices.filter({ free[$0].byteCount >= bytes }).min(by: { free[$0].byteCount < free[$1].byteCount }) {
            taken = free.remove(at: i)
        }
        lock.unlock()
        let storage = taken ?? Storage(byteCount: bytes, zeroed: false)
        defer {
            lock.lock()
            free.append(storage)
            if free.count > 4 { free.removeFirst() }
            lock.unlock()
        }
        return body(storage.raw.assumingMemoryBound(to: Float.self))
    }
}
