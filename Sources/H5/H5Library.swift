import CHDF5
import Foundation
import Tensor

/// Process-wide access to libhdf5.
///
/// The Debian `libhdf5-dev` build is the *serial* library, which is not thread-safe, so every
/// call into it goes through one recursive lock. The first call also switches off HDF5's own
/// printing of its error stack: failures are reported as `SamdgError`s instead, with the
/// stack's messages read back by `takeErrorStack()`.
///
/// If closing a file fails (its final flush hits a write error), libhdf5 keeps the file open and
/// its descriptor leaks until the process exits; `H5File.writeAtomically` still removes the
/// temporary file's name, so the destination is never affected.
enum H5Library {
    private static let lock = NSRecursiveLock()
    private static let initialized: Bool = {
        // No cleanup at exit: libhdf5 1.10 crashes in H5F__close_cb when its exit handler closes
        // a file whose earlier H5Fclose failed (a write error while flushing, e.g. a full disk).
        // Every H5File closes itself (close() or deinit), so nothing is lost by skipping it.
        _ = H5dont_atexit()
        _ = H5open()
        _ = H5Eset_auto2(samdg_h5e_default(), nil, nil)
        return true
    }()

    /// Runs `body` holding the HDF5 lock.
    static func sync<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        _ = initialized
        return try body()
    }

    /// HDF5's error stack for the last failed call, as "outermost: innermost" (for example
    /// "unable to open file: file signature not found"), and clears it. Empty if the stack is.
    static func takeErrorStack() -> String {
        let box = ErrorLines()
        let unmanaged = Unmanaged.passRetained(box)
        defer { unmanaged.release() }
        _ = H5Ewalk2(samdg_h5e_default(), H5E_WALK_DOWNWARD, { _, err, data in
            guard let err, let data, let desc = err.pointee.desc else { return 0 }
            let line = String(cString: desc)
            let box = Unmanaged<ErrorLines>.fromOpaque(data).takeUnretainedValue()
            if !line.isEmpty && box.lines.last != line { box.lines.append(line) }
            return 0
        }, unmanaged.toOpaque())
        _ = H5Eclear2(samdg_h5e_default())
        guard let first = box.lines.first else { return "" }
        return box.lines.count > 1 ? "\(first): \(concise(box.lines.last!))" : concise(first)
    }

    /// One line of an HDF5 error description. System-call failures come as "file write failed:
    /// time = …, filename = …, errno = 27, error message = 'File too large', buf = …": keep the
    /// reason and the system's message.
    static func concise(_ line: String) -> String {
        let flat = line.replacingOccurrences(of: "\n", with: " ")
        if let m = flat.range(of: "error message = '"), let end = flat[m.upperBound...].firstIndex(of: "'") {
            let reason = flat.prefix { $0 != ":" }
            return "\(reason): \(flat[m.upperBound..<end])"
        }
        return flat.count > 300 ? String(flat.prefix(300)) + "…" : flat
    }

    /// A new creation property list of `propertyClass` (dataset, group or file creation) with
    /// object time tracking off: HDF5 otherwise stamps every object header with its creation and
    /// modification times, so writing the same content twice would give different bytes. The
    /// caller closes it.
    static func untimedCreationProperties(_ propertyClass: hid_t, _ place: String) throws -> hid_t {
        let plist = H5Pcreate(propertyClass)
        guard plist >= 0 else { throw failure(place, "cannot create object creation properties") }
        guard H5Pset_obj_track_times(plist, false) >= 0 else {
            _ = H5Pclose(plist)
            throw failure(place, "cannot switch off object time tracking")
        }
        return plist
    }

    /// A `SamdgError` at `place` saying what failed, with HDF5's reason when it gave one.
    static func failure(_ place: String, _ what: String) -> SamdgError {
        let why = takeErrorStack()
        return SamdgError(place, why.isEmpty ? what : "\(what) (HDF5: \(why))")
    }
}

private final class ErrorLines { var lines: [String] = [] }
