import Foundation
import Tensor

extension H5File {
    /// Writes a whole new HDF5 file at `path` atomically (see `AtomicFile.replace`): `body` fills
    /// a temporary file, which is closed, synced and renamed over `path`.
    public static func writeAtomically(to path: String, _ body: (H5File) throws -> Void) throws {
        try AtomicFile.replace(path) { tmp in
            let file = try H5File.create(tmp)
            do {
                try body(file)
            } catch {
                try? file.close()
                throw error
            }
            try file.close()
        }
    }
}
