/// A 64-byte aligned block of memory owned by one tensor (or shared by views of it), or a window
/// into another storage (an arena slice), which keeps its parent alive and frees nothing.
public final class Storage: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    public let byteCount: Int
    private let parent: Storage?

    /// Allocates `byteCount` bytes; zero-filled unless `zeroed` is false (for kernel outputs that
    /// overwrite every element).
    public init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        parent = nil
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64)) }
    }

    /// `byteCount` bytes of `parent` starting at `offset`.
    public init(slice parent: Storage, offset: Int, byteCount: Int) {
        precondition(offset >= 0 && offset + byteCount <= parent.byteCount, "storage slice outside its parent")
        self.parent = parent
        self.byteCount = byteCount
        raw = parent.raw + offset
    }

    deinit { if parent == nil { raw.deallocate() } }
}
