import CHDF5
import Foundation
import Tensor

/// How each `DType` is stored: standard little-endian HDF5 types, as h5py/numpy write them.
/// `bool` has no standard HDF5 type, so it is stored as uint8 and marked with the dataset
/// attribute `samdg_dtype = "bool"` (h5py reads it as uint8 0/1).
extension DType {
    var h5FileType: hid_t {
        switch self {
        case .float32: return samdg_h5t_ieee_f32le()
        case .float64: return samdg_h5t_ieee_f64le()
        case .int64: return samdg_h5t_std_i64le()
        case .uint8, .bool: return samdg_h5t_std_u8le()
        }
    }

    var h5MemoryType: hid_t {
        switch self {
        case .float32: return samdg_h5t_native_float()
        case .float64: return samdg_h5t_native_double()
        case .int64: return samdg_h5t_native_int64()
        case .uint8, .bool: return samdg_h5t_native_uint8()
        }
    }
}

/// The dataset attribute that records a dtype HDF5 has no standard type for.
let dtypeAttribute = "samdg_dtype"

/// Largest dataset `read` will allocate; a corrupt header cannot make it ask for more.
let maxDatasetBytes = 1 << 40

extension H5File {
    /// Writes `tensor` as a new dataset at `path`, creating missing groups above it. The shape is
    /// kept exactly: rank 0 becomes an HDF5 scalar dataspace, zero-sized dimensions are allowed.
    /// No timestamps are stored, so equal content gives equal file bytes. Throws if something
    /// already exists at `path`.
    public func write(_ tensor: Tensor, at path: String) throws {
        try H5Library.sync {
            try requireWritable(path)
            let fid = try id(for: path)
            let parts = H5File.components(path)
            guard !parts.isEmpty else { throw SamdgError(place(path), "a dataset needs a name (got the root group)") }
            if parts.count > 1 { try createGroups(parts.dropLast().joined(separator: "/")) }
            guard !exists(path) else { throw SamdgError(place(path), "already exists (expected a new dataset name)") }

            let space: hid_t
            if tensor.rank == 0 {
                space = H5Screate(H5S_SCALAR)
            } else {
                let dims = tensor.shape.map { hsize_t($0) }
                space = H5Screate_simple(Int32(dims.count), dims, nil)
            }
            guard space >= 0 else { throw H5Library.failure(place(path), "cannot create dataspace for shape \(ShapeMath.describe(tensor.shape))") }
            defer { _ = H5Sclose(space) }

            let dcpl = try H5Library.untimedCreationProperties(samdg_h5p_dataset_create(), place(path))
            defer { _ = H5Pclose(dcpl) }
            let did = H5Dcreate2(fid, H5File.normalized(path), tensor.dtype.h5FileType, space,
                                 samdg_h5p_default(), dcpl, samdg_h5p_default())
            guard did >= 0 else { throw H5Library.failure(place(path), "cannot create dataset") }
            defer { _ = H5Dclose(did) }
            guard H5Dwrite(did, tensor.dtype.h5MemoryType, samdg_h5s_all(), samdg_h5s_all(), samdg_h5p_default(),
                           tensor.storage.raw) >= 0 else {
                throw H5Library.failure(place(path), "writing \(tensor.count) \(tensor.dtype) values failed (disk full or write error?)")
            }
            if tensor.dtype == .bool { try setAttribute(dtypeAttribute, "bool", on: path) }
        }
    }

    /// Reads the dataset at `path` as a tensor of the matching dtype: float32/float64 stay as they
    /// are (float16 widens to float32), uint8 stays uint8 (bool if marked so, or an h5py bool
    /// enum), every other integer type converts to int64.
    public func read(_ path: String) throws -> Tensor {
        try H5Library.sync {
            let fid = try id(for: path)
            guard let k = kind(path) else { throw SamdgError(place(path), "no such dataset") }
            guard k == .dataset else { throw SamdgError(place(path), "is a group (expected a dataset)") }
            let did = H5Dopen2(fid, H5File.normalized(path), samdg_h5p_default())
            guard did >= 0 else { throw H5Library.failure(place(path), "cannot open dataset") }
            defer { _ = H5Dclose(did) }

            let shape = try datasetShape(did, path)
            let ftype = H5Dget_type(did)
            guard ftype >= 0 else { throw H5Library.failure(place(path), "cannot read the dataset's type") }
            defer { _ = H5Tclose(ftype) }
            let (dtype, memType, closeMemType) = try tensorType(ftype, path)
            defer { if closeMemType { _ = H5Tclose(memType) } }

            let (count, o1) = shape.reduce((1, false)) { acc, d in
                let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
            }
            let (bytes, o2) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o1, !o2, bytes <= maxDatasetBytes else {
                throw SamdgError(place(path), "shape \(ShapeMath.describe(shape)) is too large to read (corrupt file?)")
            }
            try checkStoredSize(did, path, count: count, fileElementSize: H5Tget_size(ftype))
            let t = Tensor(zeros: shape, dtype: dtype)
            if count > 0 {
                guard H5Dread(did, memType, samdg_h5s_all(), samdg_h5s_all(), samdg_h5p_default(), t.storage.raw) >= 0 else {
                    throw H5Library.failure(place(path), "reading \(count) values of shape \(ShapeMath.describe(shape)) failed (truncated or corrupt file?)")
                }
            }
            return t
        }
    }

    /// A contiguous dataset must have all its bytes in the file; checked before allocating, so a
    /// header claiming a huge shape over missing data fails cleanly. (Chunked and compressed
    /// datasets store a different number of bytes and are not checked.)
    private func checkStoredSize(_ did: hid_t, _ path: String, count: Int, fileElementSize: Int) throws {
        let dcpl = H5Dget_create_plist(did)
        guard dcpl >= 0 else { throw H5Library.failure(place(path), "cannot read the dataset's creation properties") }
        defer { _ = H5Pclose(dcpl) }
        guard H5Pget_layout(dcpl) == H5D_CONTIGUOUS, count > 0 else { return }
        let stored = H5Dget_storage_size(did)
        let (expected, overflow) = count.multipliedReportingOverflow(by: fileElementSize)
        guard !overflow, stored >= hsize_t(expected) else {
            throw SamdgError(place(path), "holds \(stored) bytes of data, but its shape and type need \(expected) (truncated or corrupt file?)")
        }
    }

    /// The dataset's shape ([] for a scalar dataspace).
    private func datasetShape(_ did: hid_t, _ path: String) throws -> [Int] {
        let space = H5Dget_space(did)
        guard space >= 0 else { throw H5Library.failure(place(path), "cannot read the dataset's dataspace") }
        defer { _ = H5Sclose(space) }
        switch H5Sget_simple_extent_type(space) {
        case H5S_SCALAR:
            return []
        case H5S_SIMPLE:
            let rank = H5Sget_simple_extent_ndims(space)
            guard rank >= 0, rank <= 32 else { throw H5Library.failure(place(path), "bad dataspace rank \(rank) (corrupt file?)") }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            guard H5Sget_simple_extent_dims(space, &dims, nil) == rank else {
                throw H5Library.failure(place(path), "cannot read the dataset's dimensions")
            }
            guard dims.allSatisfy({ $0 <= hsize_t(Int.max) }) else {
                throw SamdgError(place(path), "dimensions \(dims) are too large (corrupt file?)")
            }
            return dims.map { Int($0) }
        default:
            throw SamdgError(place(path), "has an empty (null) dataspace (expected an array or a scalar)")
        }
    }

    /// The tensor dtype for a file type, and the memory type to read it with (to close if owned).
    private func tensorType(_ ftype: hid_t, _ path: String) throws -> (DType, hid_t, Bool) {
        let size = H5Tget_size(ftype)
        switch H5Tget_class(ftype) {
        case H5T_FLOAT:
            return size == 8 ? (.float64, DType.float64.h5MemoryType, false) : (.float32, DType.float32.h5MemoryType, false)
        case H5T_INTEGER:
            if size == 1 && H5Tget_sign(ftype) == H5T_SGN_NONE {
                let isBool = (try? stringAttribute(dtypeAttribute, of: path)) == "bool"
                return (isBool ? .bool : .uint8, DType.uint8.h5MemoryType, false)
            }
            return (.int64, DType.int64.h5MemoryType, false)
        case H5T_ENUM where size == 1:
            // h5py's bool: an int8 enum {FALSE: 0, TRUE: 1}; read its bytes as they are.
            let mem = H5Tget_native_type(ftype, H5T_DIR_ASCEND)
            guard mem >= 0 else { throw H5Library.failure(place(path), "cannot map the enum type to memory") }
            return (.bool, mem, true)
        default:
            throw SamdgError(place(path), "has an unsupported element type (HDF5 class \(H5Tget_class(ftype).rawValue), \(size) bytes); expected float or integer numbers")
        }
    }
}
