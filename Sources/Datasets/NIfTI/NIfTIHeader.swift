import Tensor

/// The fields of a NIfTI-1 header (nifti1.h, the 348-byte `nifti_1_header`) that reading a
/// volume needs. Either byte order is accepted: `sizeof_hdr` (348) tells which one the file
/// uses.
///
/// | offset | field | use here |
/// | --- | --- | --- |
/// | 0 | `int32 sizeof_hdr` | must be 348 (in the file's byte order) |
/// | 40 | `int16 dim[8]` | `dim[0]` = rank, `dim[1…]` = extents (x fastest) |
/// | 70 | `int16 datatype`, 72 `int16 bitpix` | voxel type (table in ``NIfTIDataType``) |
/// | 76 | `float pixdim[8]` | voxel spacing (kept for provenance) |
/// | 108 | `float vox_offset` | byte offset of the voxels in a single `.nii` file (≥ 348) |
/// | 112 | `float scl_slope`, 116 `float scl_inter` | value = slope · stored + inter when slope ≠ 0 |
/// | 344 | `char magic[4]` | `"n+1\0"` (single file); `"ni1\0"` (.hdr/.img pair) is refused |
public struct NIfTIHeader: Equatable {
    public static let size = 348

    /// Extents `dim[1…dim[0]]`, x first.
    public let dims: [Int]
    public let datatype: NIfTIDataType
    public let pixdim: [Float]
    public let voxOffset: Int
    public let sclSlope: Float
    public let sclInter: Float
    public let bigEndian: Bool

    /// Voxel count of the whole volume.
    public var voxelCount: Int { dims.reduce(1, *) }

    /// The scaling `value = slope · stored + inter`, or nil when the header asks for none
    /// (slope 0 or not finite, as nifti1.h specifies).
    public var scaling: (slope: Float, inter: Float)? {
        guard sclSlope != 0, sclSlope.isFinite, sclInter.isFinite else { return nil }
        if sclSlope == 1 && sclInter == 0 { return nil }
        return (sclSlope, sclInter)
    }

    /// Parses the first 348 bytes of a NIfTI-1 file; `place` names the file in errors.
    public init(_ b: [UInt8], place: String) throws {
        guard b.count >= NIfTIHeader.size else {
            throw SamdgError(place, "truncated NIfTI header: \(b.count) bytes (expected \(NIfTIHeader.size))")
        }
        let little = Self.int32(b, 0, bigEndian: false), big = Self.int32(b, 0, bigEndian: true)
        if little == 348 { bigEndian = false } else if big == 348 { bigEndian = true } else {
            let hint = (little == 540 || big == 540) ? " (540 is NIfTI-2, which is not supported)" : ""
            throw SamdgError(place, "sizeof_hdr is \(little) (expected 348 in either byte order; not a NIfTI-1 file\(hint))")
        }
        let magic = Array(b[344..<348])
        if magic == Array("ni1\0".utf8) {
            throw SamdgError(place, "a two-file NIfTI header (magic \"ni1\"; expected a single .nii/.nii.gz file with magic \"n+1\")")
        }
        guard magic == Array("n+1\0".utf8) else {
            throw SamdgError(place, "bad NIfTI-1 magic \(magic) at byte 344 (expected \"n+1\\0\")")
        }
        let e = bigEndian
        let rank = Int(Self.int16(b, 40, bigEndian: e))
        guard (1...7).contains(rank) else { throw SamdgError(place, "dim[0] is \(rank) (expected a rank from 1 to 7)") }
        let dims = (1...rank).map { Int(Self.int16(b, 40 + 2 * $0, bigEndian: e)) }
        guard dims.allSatisfy({ $0 >= 1 }) else {
            throw SamdgError(place, "dims \(dims) (expected every extent ≥ 1)")
        }
        self.dims = dims
        let code = Int(Self.int16(b, 70, bigEndian: e))
        guard let type = NIfTIDataType(rawValue: code) else {
            throw SamdgError(place, "datatype \(code) is not supported (expected one of \(NIfTIDataType.allCases.map { "\($0.rawValue) (\($0))" }.joined(separator: ", ")))")
        }
        datatype = type
        let bitpix = Int(Self.int16(b, 72, bigEndian: e))
        guard bitpix == type.size * 8 else {
            throw SamdgError(place, "bitpix \(bitpix) does not match datatype \(type) (expected \(type.size * 8))")
        }
        pixdim = (0..<8).map { Self.float(b, 76 + 4 * $0, bigEndian: e) }
        let offset = Self.float(b, 108, bigEndian: e)
        guard offset.isFinite, offset >= Float(NIfTIHeader.size), offset < 1e9, offset == offset.rounded() else {
            throw SamdgError(place, "vox_offset \(offset) (expected a whole number of bytes ≥ 348)")
        }
        voxOffset = Int(offset)
        sclSlope = Self.float(b, 112, bigEndian: e)
        sclInter = Self.float(b, 116, bigEndian: e)
    }

    static func int16(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> Int16 {
        let v = UInt16(b[o]) | UInt16(b[o + 1]) << 8
        return Int16(bitPattern: bigEndian ? v.byteSwapped : v)
    }

    static func uint32(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> UInt32 {
        let v = (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[o + $1]) << (8 * $1) }
        return bigEndian ? v.byteSwapped : v
    }

    static func int32(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> Int32 {
        Int32(bitPattern: uint32(b, o, bigEndian: bigEndian))
    }

    static func float(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> Float {
        Float(bitPattern: uint32(b, o, bigEndian: bigEndian))
    }
}

/// The voxel types read (nifti1.h `NIFTI_TYPE_*` codes).
public enum NIfTIDataType: Int, CaseIterable, CustomStringConvertible, Sendable {
    case uint8 = 2, int16 = 4, int32 = 8, float32 = 16, float64 = 64, int8 = 256, uint16 = 512

    /// Bytes per voxel.
    public var size: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16, .uint16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }

    public var description: String {
        switch self {
        case .uint8: return "uint8"
        case .int16: return "int16"
        case .int32: return "int32"
        case .float32: return "float32"
        case .float64: return "float64"
        case .int8: return "int8"
        case .uint16: return "uint16"
        }
    }
}
