import Tensor

/// The element type a tensor had in the `.pth` file. Half and bfloat16 are widened to float32
/// on load (the engine computes in float32) and narrower integers to int64; this remembers
/// what the file held.
public enum TorchDType: String, Sendable, Hashable, CaseIterable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    /// Bytes per element in the file.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// The engine dtype a tensor of this type is loaded as.
    public var loadedAs: DType {
        switch self {
        case .float32, .float16, .bfloat16: return .float32
        case .float64: return .float64
        case .int64, .int32, .int16, .int8: return .int64
        case .uint8: return .uint8
        case .bool: return .bool
        }
    }

    /// Legacy typed-storage class names (`torch.FloatStorage`, …) as written in pickles.
    static let storageClasses: [String: TorchDType] = [
        "FloatStorage": .float32, "DoubleStorage": .float64, "HalfStorage": .float16,
        "BFloat16Storage": .bfloat16, "LongStorage": .int64, "IntStorage": .int32,
        "ShortStorage": .int16, "CharStorage": .int8, "ByteStorage": .uint8, "BoolStorage": .bool,
        // An untyped storage is bytes; `_rebuild_tensor_v3` gives the element type separately.
        "UntypedStorage": .uint8,
    ]

    /// `torch.float32`-style dtype objects as written in pickles.
    static let dtypeNames: [String: TorchDType] = [
        "float32": .float32, "float": .float32, "float64": .float64, "double": .float64,
        "float16": .float16, "half": .float16, "bfloat16": .bfloat16,
        "int64": .int64, "long": .int64, "int32": .int32, "int": .int32, "int16": .int16, "short": .int16,
        "int8": .int8, "uint8": .uint8, "bool": .bool,
    ]
}

/// IEEE half (binary16) bits → Float, written out so it works where `Float16` is unavailable.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign: UInt32 = UInt32(h >> 15) << 31
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // zero or subnormal: mantissa · 2⁻²⁴
        let magnitude = Float(mantissa) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
}

/// bfloat16 bits are the top half of a float32.
@inline(__always)
func bfloat16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }
