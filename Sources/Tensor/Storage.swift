/// A 64-byte aligned, zero-initialised block of memory owned by one tensor (or shared by views of it).
public final class Storage: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    public let byteCount: Int

    /// Allocates `byteCount` bytes; zero-filled unless `zeroed` is false (for kernel outputs that
    /// overwrite every element).
    public init(byteCount: Int, zeroed: Bool = true) {
        self.byteCount = byteCount
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64)) }
    }

    deinit { raw.deallocate() }
}
