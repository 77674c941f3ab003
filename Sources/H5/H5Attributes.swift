import CHDF5
import Foundation
import Tensor

/// Scalar attributes on groups and datasets: UTF-8 strings (variable length, as h5py writes
/// `str`), 64-bit integers and doubles. Setting an attribute that exists replaces it.
extension H5File {
    /// Strings are written as fixed-length, NUL-terminated UTF-8 (h5py reads them as `bytes`;
    /// `.decode()` gives the `str`). Fixed rather than variable length because a variable-length
    /// string lives in HDF5's global heap, which has no checksum: a corrupt heap makes libhdf5
    /// read out of bounds, whereas a fixed string sits in the checksummed object header.
    /// Variable-length strings (as h5py writes `str`) are still read.
    public func setAttribute(_ name: String, _ value: String, on path: String = "/") throws {
        try H5Library.sync {
            let where_ = attributePlace(name, path)
            guard !value.utf8.contains(0) else { throw SamdgError(where_, "the value holds a NUL character (expected text)") }
            let type = H5Tcopy(samdg_h5t_c_s1())
            guard type >= 0 else { throw H5Library.failure(where_, "cannot create a string type") }
            defer { _ = H5Tclose(type) }
            var bytes = Array(value.utf8)
            bytes.append(0)
            guard H5Tset_size(type, bytes.count) >= 0, H5Tset_cset(type, H5T_CSET_UTF8) >= 0,
                  H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0 else {
                throw H5Library.failure(where_, "cannot set up a UTF-8 string type")
            }
            try bytes.withUnsafeBytes { try writeAttribute(name, on: path, fileType: type, memType: type, $0.baseAddress!) }
        }
    }

    public func setAttribute(_ name: String, _ value: Int, on path: String = "/") throws {
        try H5Library.sync {
            try withUnsafePointer(to: Int64(value)) {
                try writeAttribute(name, on: path, fileType: samdg_h5t_std_i64le(), memType: samdg_h5t_native_int64(), $0)
            }
        }
    }

    public func setAttribute(_ name: String, _ value: Double, on path: String = "/") throws {
        try H5Library.sync {
            try withUnsafePointer(to: value) {
                try writeAttribute(name, on: path, fileType: samdg_h5t_ieee_f64le(), memType: samdg_h5t_native_double(), $0)
            }
        }
    }

    public func hasAttribute(_ name: String, of path: String = "/") -> Bool {
        H5Library.sync {
            (try? withObject(path) { oid in H5Aexists(oid, name) > 0 }) ?? false
        }
    }

    /// Names of the attributes of the object at `path`, sorted by name.
    public func attributeNames(of path: String = "/") throws -> [String] {
        try H5Library.sync {
            try withObject(path) { oid in
                let box = NameList()
                let unmanaged = Unmanaged.passRetained(box)
                defer { unmanaged.release() }
                var index: hsize_t = 0
                let status = H5Aiterate2(oid, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, data in
                    guard let name, let data else { return -1 }
                    Unmanaged<NameList>.fromOpaque(data).takeUnretainedValue().names.append(String(cString: name))
                    return 0
                }, unmanaged.toOpaque())
                guard status >= 0 else { throw H5Library.failure(place(path), "cannot list attributes") }
                return box.names
            }
        }
    }

    /// A string attribute (variable or fixed length).
    public func stringAttribute(_ name: String, of path: String = "/") throws -> String {
        try H5Library.sync {
            try withAttribute(name, of: path) { aid, ftype, where_ in
                guard H5Tget_class(ftype) == H5T_STRING else {
                    throw SamdgError(where_, "is not a string (HDF5 class \(H5Tget_class(ftype).rawValue)); expected a string")
                }
                if H5Tis_variable_str(ftype) > 0 {
                    let mem = try variableStringType(where_)
                    defer { _ = H5Tclose(mem) }
                    _ = H5Tset_cset(mem, H5Tget_cset(ftype))
                    var pointer: UnsafeMutablePointer<CChar>? = nil
                    guard H5Aread(aid, mem, &pointer) >= 0 else { throw H5Library.failure(where_, "cannot read string") }
                    guard let pointer else { return "" }
                    defer { _ = H5free_memory(pointer) }
                    return String(cString: pointer)
                }
                let size = H5Tget_size(ftype)
                guard size > 0, size < 1 << 30 else { throw SamdgError(where_, "has a bad string size \(size) (corrupt file?)") }
                let mem = H5Tcopy(ftype)
                guard mem >= 0 else { throw H5Library.failure(where_, "cannot copy string type") }
                defer { _ = H5Tclose(mem) }
                var bytes = [UInt8](repeating: 0, count: size + 1)
                guard H5Aread(aid, mem, &bytes) >= 0 else { throw H5Library.failure(where_, "cannot read string") }
                let end = bytes.firstIndex(of: 0) ?? size
                return String(decoding: bytes[..<end], as: UTF8.self)
            }
        }
    }

    /// An integer attribute (any HDF5 integer type that fits in Int64).
    public func intAttribute(_ name: String, of path: String = "/") throws -> Int {
        try H5Library.sync {
            try withAttribute(name, of: path) { aid, ftype, where_ in
                guard H5Tget_class(ftype) == H5T_INTEGER else {
                    throw SamdgError(where_, "is not an integer (HDF5 class \(H5Tget_class(ftype).rawValue)); expected an integer")
                }
                var v: Int64 = 0
                guard H5Aread(aid, samdg_h5t_native_int64(), &v) >= 0 else { throw H5Library.failure(where_, "cannot read integer") }
                return Int(v)
            }
        }
    }

    /// A floating-point attribute (integers are accepted and converted).
    public func doubleAttribute(_ name: String, of path: String = "/") throws -> Double {
        try H5Library.sync {
            try withAttribute(name, of: path) { aid, ftype, where_ in
                let c = H5Tget_class(ftype)
                guard c == H5T_FLOAT || c == H5T_INTEGER else {
                    throw SamdgError(where_, "is not a number (HDF5 class \(c.rawValue)); expected a floating-point number")
                }
                var v: Double = 0
                guard H5Aread(aid, samdg_h5t_native_double(), &v) >= 0 else { throw H5Library.failure(where_, "cannot read number") }
                return v
            }
        }
    }

    // MARK: - Helpers

    private func attributePlace(_ name: String, _ path: String) -> String { "\(place(path)) attribute \"\(name)\"" }

    private func variableStringType(_ where_: String) throws -> hid_t {
        let type = H5Tcopy(samdg_h5t_c_s1())
        guard type >= 0 else { throw H5Library.failure(where_, "cannot create a string type") }
        guard H5Tset_size(type, samdg_h5t_variable()) >= 0, H5Tset_cset(type, H5T_CSET_UTF8) >= 0 else {
            _ = H5Tclose(type)
            throw H5Library.failure(where_, "cannot set up a UTF-8 string type")
        }
        return type
    }

    private func writeAttribute(_ name: String, on path: String, fileType: hid_t, memType: hid_t,
                                _ value: UnsafeRawPointer) throws {
        try requireWritable(path)
        let where_ = attributePlace(name, path)
        guard !name.isEmpty else { throw SamdgError(where_, "an attribute needs a non-empty name") }
        try withObject(path) { oid in
            if H5Aexists(oid, name) > 0, H5Adelete(oid, name) < 0 {
                throw H5Library.failure(where_, "cannot replace the existing attribute")
            }
            let space = H5Screate(H5S_SCALAR)
            guard space >= 0 else { throw H5Library.failure(where_, "cannot create a scalar dataspace") }
            defer { _ = H5Sclose(space) }
            let aid = H5Acreate2(oid, name, fileType, space, samdg_h5p_default(), samdg_h5p_default())
            guard aid >= 0 else { throw H5Library.failure(where_, "cannot create attribute") }
            defer { _ = H5Aclose(aid) }
            guard H5Awrite(aid, memType, value) >= 0 else { throw H5Library.failure(where_, "cannot write attribute") }
        }
    }

    /// Opens attribute `name` of the object at `path` (which must hold exactly one value) and runs
    /// `body` with the attribute id, its file type and its place for messages.
    private func withAttribute<R>(_ name: String, of path: String,
                                  _ body: (hid_t, hid_t, String) throws -> R) throws -> R {
        let where_ = attributePlace(name, path)
        return try withObject(path) { oid in
            guard H5Aexists(oid, name) > 0 else { throw SamdgError(where_, "missing (expected an attribute of that name)") }
            let aid = H5Aopen(oid, name, samdg_h5p_default())
            guard aid >= 0 else { throw H5Library.failure(where_, "cannot open attribute") }
            defer { _ = H5Aclose(aid) }
            let space = H5Aget_space(aid)
            guard space >= 0 else { throw H5Library.failure(where_, "cannot read the attribute's dataspace") }
            let n = H5Sget_simple_extent_npoints(space)
            _ = H5Sclose(space)
            guard n == 1 else { throw SamdgError(where_, "holds \(n) values (expected one)") }
            let ftype = H5Aget_type(aid)
            guard ftype >= 0 else { throw H5Library.failure(where_, "cannot read the attribute's type") }
            defer { _ = H5Tclose(ftype) }
            return try body(aid, ftype, where_)
        }
    }
}

private final class NameList { var names: [String] = [] }
