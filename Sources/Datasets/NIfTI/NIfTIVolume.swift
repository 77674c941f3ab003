import CZlibSystem
import Foundation
import Tensor

/// A NIfTI-1 volume (`.nii` or gzip-compressed `.nii.gz`; zlib's gzread reads both) as float32
/// values in its own units (`scl_slope`/`scl_inter` applied).
///
/// The voxels are stored x fastest, then y, then z, so the C-order tensor is `[nz, ny, nx]`:
/// axial slice `z` is `[ny, nx]` with row = y and column = x, which is nibabel's
/// `img.get_fdata()[:, :, z].T`. No reorientation by qform/sform is done. Volumes of rank 2
/// are one slice; ranks 4–7 are accepted when the extra extents are 1.
///
/// ```swift
/// let v = try NIfTIVolume.read("Case00.nii.gz")   // v.values: float32 [64, 128, 128]
/// let s = v.slice(20)                              // float32 [128, 128]
/// ```
public struct NIfTIVolume {
    public let header: NIfTIHeader
    /// float32 `[nz, ny, nx]`.
    public let values: Tensor

    public var sliceCount: Int { values.shape[0] }

    /// Largest voxel payload read (a corrupt header cannot make the reader allocate more).
    public static let maxBytes = 1 << 32

    public static func read(_ path: String) throws -> NIfTIVolume {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw SamdgError(path, "no such file (expected a NIfTI-1 .nii or .nii.gz volume)")
        }
        guard let file = gzopen(path, "rb") else {
            throw SamdgError(path, "cannot open the file (expected a NIfTI-1 .nii or .nii.gz volume)")
        }
        defer { gzclose(file) }
        _ = gzbuffer(file, 1 << 17)

        let headerBytes = try readBytes(file, count: NIfTIHeader.size, path: path, what: "header")
        guard headerBytes.count == NIfTIHeader.size else {
            throw SamdgError(path, "truncated NIfTI header: \(headerBytes.count) bytes (expected \(NIfTIHeader.size))")
        }
        let header = try NIfTIHeader(headerBytes, place: path)
        let dims = header.dims
        if dims.count > 3, dims[3...].contains(where: { $0 != 1 }) {
            throw SamdgError(path, "dims \(dims) (expected a 3-D volume; extents beyond the third must be 1)")
        }
        let (nx, ny, nz) = (dims[0], dims.count > 1 ? dims[1] : 1, dims.count > 2 ? dims[2] : 1)
        let (count, o1) = nx.multipliedReportingOverflow(by: ny * nz)
        let (bytes, o2) = count.multipliedReportingOverflow(by: header.datatype.size)
        guard !o1, !o2, bytes <= maxBytes else {
            throw SamdgError(path, "dims \(dims) of \(header.datatype) need more than \(maxBytes) bytes (corrupt header?)")
        }
        // Extensions (if any) sit between the header and vox_offset.
        let gap = try readBytes(file, count: header.voxOffset - NIfTIHeader.size, path: path, what: "header extension")
        guard gap.count == header.voxOffset - NIfTIHeader.size else {
            throw SamdgError(path, "truncated before vox_offset \(header.voxOffset)")
        }
        let raw = try readBytes(file, count: bytes, path: path, what: "voxel data")
        guard raw.count == bytes else {
            throw SamdgError(path, "truncated voxel data: \(raw.count) bytes after vox_offset \(header.voxOffset) (expected \(bytes) for dims \(dims) of \(header.datatype))")
        }
        // Reading on to the end lets zlib check the gzip trailer (CRC and length).
        var probe = [UInt8](repeating: 0, count: 1)
        if gzread(file, &probe, 1) < 0 || gzStatus(file) != Z_OK { throw gzFailure(file, path, "reading past the voxel data") }

        let values = Tensor(uninitialized: [nz, ny, nx])
        convert(raw, header.datatype, bigEndian: header.bigEndian, into: values.floats)
        if let (slope, inter) = header.scaling {
            let v = values.floats
            for i in 0..<count { v[i] = slope * v[i] + inter }
        }
        return NIfTIVolume(header: header, values: values)
    }

    /// Axial slice `z`: float32 `[ny, nx]` (a copy).
    public func slice(_ z: Int) -> Tensor {
        let (ny, nx) = (values.shape[1], values.shape[2])
        let out = Tensor(uninitialized: [ny, nx])
        let src = values.floats, dst = out.floats
        for i in 0..<(ny * nx) { dst[i] = src[z * ny * nx + i] }
        return out
    }

    // MARK: - Reading

    private static func readBytes(_ file: gzFile, count: Int, path: String, what: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let want = min(count - done, 1 << 30)
            let got = out.withUnsafeMutableBytes { gzread(file, $0.baseAddress! + done, UInt32(want)) }
            if got < 0 { throw gzFailure(file, path, "reading the \(what)") }
            if got == 0 { break }
            done += Int(got)
        }
        // A short read with Z_BUF_ERROR is a gzip stream cut short (zlib reports it that way).
        if done < count, gzStatus(file) != Z_OK { throw gzFailure(file, path, "reading the \(what)") }
        return done == count ? out : Array(out[..<done])
    }

    private static func gzStatus(_ file: gzFile) -> Int32 {
        var code: Int32 = 0
        _ = gzerror(file, &code)
        return code
    }

    private static func gzFailure(_ file: gzFile, _ path: String, _ doing: String) -> SamdgError {
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
        return SamdgError(path, "\(doing) failed: \(message) (corrupt or truncated gzip stream?)")
    }

    /// Stored voxels → float32, swapping bytes for big-endian files.
    private static func convert(_ raw: [UInt8], _ type: NIfTIDataType, bigEndian: Bool,
                                into dst: UnsafeMutableBufferPointer<Float>) {
        raw.withUnsafeBytes { src in
            let n = dst.count
            switch type {
            case .uint8: for i in 0..<n { dst[i] = Float(src[i]) }
            case .int8: for i in 0..<n { dst[i] = Float(Int8(bitPattern: src[i])) }
            case .int16:
                for i in 0..<n { dst[i] = Float(Int16(bitPattern: load16(src, i, bigEndian))) }
            case .uint16:
                for i in 0..<n { dst[i] = Float(load16(src, i, bigEndian)) }
            case .int32:
                for i in 0..<n { dst[i] = Float(Int32(bitPattern: load32(src, i, bigEndian))) }
            case .float32:
                for i in 0..<n { dst[i] = Float(bitPattern: load32(src, i, bigEndian)) }
            case .float64:
                for i in 0..<n {
                    let v = src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
                    dst[i] = Float(Double(bitPattern: bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)))
                }
            }
        }
    }

    @inline(__always) private static func load16(_ src: UnsafeRawBufferPointer, _ i: Int, _ big: Bool) -> UInt16 {
        let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
        return big ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }

    @inline(__always) private static func load32(_ src: UnsafeRawBufferPointer, _ i: Int, _ big: Bool) -> UInt32 {
        let v = src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
        return big ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }
}
