import CHDF5
import Foundation
import Tensor

/// What a path names inside an HDF5 file.
public enum H5ObjectKind: Sendable, Equatable { case group, dataset, other }

extension H5File {
    /// Whether `path` names an object (the root "/" always exists). Each component is checked in
    /// turn, so a missing intermediate group is simply `false`.
    public func exists(_ path: String) -> Bool {
        H5Library.sync {
            guard let fid = try? id(for: path) else { return false }
            var prefix = ""
            for c in H5File.components(path) {
                prefix += "/" + c
                guard H5Lexists(fid, prefix, samdg_h5p_default()) > 0 else {
                    _ = H5Library.takeErrorStack()
                    return false
                }
            }
            return true
        }
    }

    /// The kind of object at `path`, or nil when there is none.
    public func kind(_ path: String) -> H5ObjectKind? {
        H5Library.sync {
            guard exists(path) else { return nil }
            return try? withObject(path) { oid -> H5ObjectKind in
                switch H5Iget_type(oid) {
                case H5I_GROUP: return .group
                case H5I_DATASET: return .dataset
                default: return .other
                }
            }
        }
    }

    /// Creates the group at `path` and any missing groups above it (like `mkdir -p`); existing
    /// groups are kept. Throws if a component exists but is not a group.
    public func createGroups(_ path: String) throws {
        try H5Library.sync {
            try requireWritable(path)
            let fid = try id(for: path)
            var prefix = ""
            for c in H5File.components(path) {
                prefix += "/" + c
                if exists(prefix) {
                    guard kind(prefix) == .group else {
                        throw SamdgError(place(prefix), "exists but is not a group (expected a group to hold \(H5File.normalized(path)))")
                    }
                    continue
                }
                let gcpl = try H5Library.untimedCreationProperties(samdg_h5p_group_create(), place(prefix))
                defer { _ = H5Pclose(gcpl) }
                let gid = H5Gcreate2(fid, prefix, samdg_h5p_default(), gcpl, samdg_h5p_default())
                guard gid >= 0 else { throw H5Library.failure(place(prefix), "cannot create group") }
                _ = H5Gclose(gid)
            }
        }
    }

    /// Names of the members (groups and datasets) of the group at `path`, in HDF5's name order.
    public func members(of path: String = "/") throws -> [String] {
        try H5Library.sync {
            let fid = try id(for: path)
            guard kind(path) == .group else {
                throw SamdgError(place(path), exists(path) ? "is not a group (expected a group to list)" : "no such group")
            }
            let gid = H5Gopen2(fid, H5File.normalized(path), samdg_h5p_default())
            guard gid >= 0 else { throw H5Library.failure(place(path), "cannot open group") }
            defer { _ = H5Gclose(gid) }
            var info = H5G_info_t()
            guard H5Gget_info(gid, &info) >= 0 else { throw H5Library.failure(place(path), "cannot read group info") }
            var names: [String] = []
            for i in 0..<info.nlinks {
                let n = H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, samdg_h5p_default())
                guard n >= 0 else { throw H5Library.failure(place(path), "cannot read the name of member \(i)") }
                var buf = [CChar](repeating: 0, count: Int(n) + 1)
                guard H5Lget_name_by_idx(gid, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, samdg_h5p_default()) >= 0 else {
                    throw H5Library.failure(place(path), "cannot read the name of member \(i)")
                }
                names.append(buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
            }
            return names
        }
    }
}
