import Foundation
internal import GraphProto

/// Owns every C block (`calloc`/`strdup`) made while building a protobuf-c message tree for
/// packing, and frees them all when it goes away. protobuf-c's `*__pack` only reads the tree,
/// so the tree can be torn down in one place whatever path the writer leaves by:
///
/// ```swift
/// let c = CAllocations()
/// let node = c.message(samdg__node__init)      // zeroed, then protobuf-c's INIT values
/// node.pointee.op = c.string("relu")
/// ...                                          // pack, then `c` frees everything on deinit
/// ```
final class CAllocations {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { for b in blocks { free(b) } }

    private func zeroed(_ bytes: Int) -> UnsafeMutableRawPointer {
        guard let p = calloc(1, max(bytes, 1)) else { fatalError("calloc(\(bytes)) failed: out of memory") }
        blocks.append(p)
        return p
    }

    /// A message initialised by its generated `*__init` function (sets the descriptor).
    func message<T>(_ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let p = zeroed(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        initialize(p)
        return p
    }

    /// A NUL-terminated copy of `s` (callers reject strings holding NUL first).
    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let utf8 = Array(s.utf8)
        let p = zeroed(utf8.count + 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
        utf8.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: src.count) }
        }
        return p
    }

    /// A repeated int64 field: (count, elements), nil for an empty list.
    func ints(_ xs: [Int]) -> (Int, UnsafeMutablePointer<Int64>?) {
        if xs.isEmpty { return (0, nil) }
        let p = zeroed(xs.count * MemoryLayout<Int64>.stride).bindMemory(to: Int64.self, capacity: xs.count)
        for (i, x) in xs.enumerated() { p[i] = Int64(x) }
        return (xs.count, p)
    }

    /// A repeated message field: (count, array of element pointers), nil for an empty list.
    func pointers<T>(_ xs: [UnsafeMutablePointer<T>]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<T>?>?) {
        if xs.isEmpty { return (0, nil) }
        let p = zeroed(xs.count * MemoryLayout<UnsafeMutablePointer<T>?>.stride)
            .bindMemory(to: UnsafeMutablePointer<T>?.self, capacity: xs.count)
        for (i, x) in xs.enumerated() { p[i] = x }
        return (xs.count, p)
    }
}
