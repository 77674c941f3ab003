import CHDF5
import Foundation
import Tensor

/// An open HDF5 file, addressed by slash-separated paths ("weights/encoder.blocks.0.attn.qkv.weight":
/// a dataset named by a full PyTorch key inside the group "weights"; dots are ordinary characters).
///
/// Every HDF5 object besides the file itself is opened and closed inside one call, so the only
/// long-lived id is the file's, closed by `close()` or, failing that, by `deinit`. Errors are
/// `SamdgError`s naming the file and the object.
///
/// ```swift
/// let f = try H5File.create("/tmp/a.h5", overwrite: true)
/// try f.write(Tensor(shape: [2], [1, 2]), at: "weights/enc.bias")
/// try f.setAttribute("step", 10)
/// try f.close()
/// let g = try H5File.open("/tmp/a.h5")
/// let bias = try g.read("weights/enc.bias")
/// ```
public final class H5File {
    public enum Mode: Sendable { case readOnly, readWrite }

    public let path: String
    public let mode: Mode
    private var fileID: hid_t

    private init(path: String, id: hid_t, mode: Mode) {
        self.path = path
        self.fileID = id
        self.mode = mode
    }

    deinit {
        if fileID >= 0 { H5Library.sync { _ = H5Fclose(fileID) } }
    }

    /// Creates a new file (read-write). Fails if the file exists, unless `overwrite`.
    ///
    /// New files use the HDF5 1.8 format or later (checksummed metadata, so corruption is detected
    /// rather than misread); h5py and any HDF5 ≥ 1.8 read them.
    public static func create(_ path: String, overwrite: Bool = false) throws -> H5File {
        try H5Library.sync {
            let fapl = try accessProperties(path)
            defer { _ = H5Pclose(fapl) }
            guard H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, samdg_h5f_libver_latest()) >= 0 else {
                throw H5Library.failure(path, "cannot set the file format version")
            }
            // The root group, like every object written here, carries no timestamps.
            let fcpl = try H5Library.untimedCreationProperties(samdg_h5p_file_create(), path)
            defer { _ = H5Pclose(fcpl) }
            let flags = overwrite ? samdg_h5f_acc_trunc() : samdg_h5f_acc_excl()
            let id = H5Fcreate(path, flags, fcpl, fapl)
            guard id >= 0 else {
                let exists = FileManager.default.fileExists(atPath: path)
                throw H5Library.failure(path, exists && !overwrite
                    ? "cannot create HDF5 file: it already exists (expected a new path, or overwrite: true)"
                    : "cannot create HDF5 file")
            }
            return H5File(path: path, id: id, mode: .readWrite)
        }
    }

    /// Opens an existing HDF5 file. A missing, truncated or non-HDF5 file is a `SamdgError`.
    public static func open(_ path: String, _ mode: Mode = .readOnly) throws -> H5File {
        try H5Library.sync {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw SamdgError(path, "no such file (expected an HDF5 file)")
            }
            guard !isDir.boolValue else { throw SamdgError(path, "is a directory (expected an HDF5 file)") }
            guard H5Fis_hdf5(path) > 0 else {
                throw H5Library.failure(path, "not an HDF5 file (no HDF5 signature found; corrupt or another format?)")
            }
            let fapl = try accessProperties(path)
            defer { _ = H5Pclose(fapl) }
            let flags = mode == .readOnly ? samdg_h5f_acc_rdonly() : samdg_h5f_acc_rdwr()
            let id = H5Fopen(path, flags, fapl)
            guard id >= 0 else {
                throw H5Library.failure(path, "cannot open HDF5 file (truncated or corrupt?)")
            }
            return H5File(path: path, id: id, mode: mode)
        }
    }

    /// File access properties: closing the file fails while any object in it is still open
    /// (`H5F_CLOSE_SEMI`), so a leaked id shows up as an error instead of a file left open.
    private static func accessProperties(_ path: String) throws -> hid_t {
        let fapl = H5Pcreate(samdg_h5p_file_access())
        guard fapl >= 0 else { throw H5Library.failure(path, "cannot create file access properties") }
        guard H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) >= 0 else {
            _ = H5Pclose(fapl)
            throw H5Library.failure(path, "cannot set the file close degree")
        }
        return fapl
    }

    /// Flushes and closes the file; later calls on this object throw. Closing twice is a no-op.
    public func close() throws {
        try H5Library.sync {
            guard fileID >= 0 else { return }
            let id = fileID
            fileID = -1
            guard H5Fclose(id) >= 0 else { throw H5Library.failure(path, "closing the file failed (disk full or write error?)") }
        }
    }

    public var isOpen: Bool { fileID >= 0 }

    /// Number of groups, datasets, types and attributes open in this file: 0 between calls,
    /// since every call closes what it opens (a leak check for tests).
    public var openObjectCount: Int {
        H5Library.sync { fileID >= 0 ? Int(H5Fget_obj_count(fileID, samdg_h5f_obj_local_objects())) : 0 }
    }

    // MARK: - Paths and places

    /// The file's id for an operation on `path`; throws if the file is closed.
    func id(for path: String) throws -> hid_t {
        guard fileID >= 0 else { throw SamdgError(place(path), "the file is closed") }
        return fileID
    }

    func requireWritable(_ path: String) throws {
        guard mode == .readWrite else { throw SamdgError(place(path), "the file is open read-only (expected .readWrite to write)") }
    }

    /// "file.h5:/group/name", for error messages.
    func place(_ objectPath: String) -> String { "\(path):\(H5File.normalized(objectPath))" }

    /// The path with one leading slash and no empty components ("/" for the root group).
    static func normalized(_ path: String) -> String {
        "/" + components(path).joined(separator: "/")
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// Opens any object (group or dataset) by path, runs `body` with its id and closes it.
    func withObject<R>(_ objectPath: String, _ body: (hid_t) throws -> R) throws -> R {
        let fid = try id(for: objectPath)
        guard exists(objectPath) else { throw SamdgError(place(objectPath), "no such group or dataset") }
        let oid = H5Oopen(fid, H5File.normalized(objectPath), samdg_h5p_default())
        guard oid >= 0 else { throw H5Library.failure(place(objectPath), "cannot open object") }
        defer { _ = H5Oclose(oid) }
        return try body(oid)
    }
}
