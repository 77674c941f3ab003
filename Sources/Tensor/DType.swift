/// Element types a tensor can hold. Compute is float32; the others carry labels, masks and
/// whatever `.npy`/`.pth` files bring in.
public enum DType: String, Sendable, Hashable, CaseIterable, Codable {
    case float32, float64, int64, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32: return 4
        case .float64, .int64: return 8
        case .uint8, .bool: return 1
        }
    }
}
