import Foundation
import Tensor
import ZIPFoundation

/// The zip format (`torch.save` since 1.6): `<archive>/data.pkl` is the object, each storage is
/// the uncompressed entry `<archive>/data/<key>` in the byte order named by `<archive>/byteorder`
/// (little when absent). Other entries (`version`, `.format_version`, `.storage_alignment`,
/// `.data/serialization_id`) do not affect reading.
enum PthZip {
    static func read(url: URL, name: String, options: PthOptions) throws -> PthCheckpoint {
        do { try ZipPreflight.check(url: url) } catch let f as PickleFault {
            throw SamdgError(name, "not a readable zip archive (\(f.message)); expected a torch.save checkpoint")
        }
        let archive: Archive
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            throw SamdgError(name, "not a readable zip archive (\(describe(error))); expected a torch.save checkpoint")
        }
        return try read(archive, name: name, options: options)
    }

    /// In-memory archives go through a temporary file: ZIPFoundation's memory-backed reader
    /// (0.9.20, `Archive(data:)`) traps when a corrupt directory points past the end of the
    /// data, while its file-backed reader reports the short read as an error.
    static func read(data: Data, name: String, options: PthOptions) throws -> PthCheckpoint {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("samdg-pth-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).zip")
        do { try data.write(to: url) } catch {
            throw SamdgError(name, "cannot stage the archive in \(url.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: url) }
        return try read(url: url, name: name, options: options)
    }

    private static func read(_ archive: Archive, name: String, options: PthOptions) throws -> PthCheckpoint {
        var entries: [String: Entry] = [:]
        for e in archive where e.type == .file { entries[e.path] = e }
        // The pickle is `<record>/data.pkl`; take the shallowest one.
        let pickles = entries.keys.filter { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }
            .sorted { ($0.split(separator: "/").count, $0) < ($1.split(separator: "/").count, $1) }
        guard let pklPath = pickles.first, let pklEntry = entries[pklPath] else {
            let listed = entries.keys.sorted().prefix(6).joined(separator: ", ")
            throw SamdgError(name, "zip archive has no data.pkl entry (entries: \(listed.isEmpty ? "none" : listed)); expected a torch.save checkpoint")
        }
        let prefix = String(pklPath.dropLast("data.pkl".count))

        var littleEndian = true
        if let bo = entries[prefix + "byteorder"] {
            let text = String(decoding: try contents(of: bo, in: archive, name: name), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            switch text {
            case "little": littleEndian = true
            case "big": littleEndian = false
            default: throw SamdgError("\(name): \(prefix)byteorder", "byte order '\(text)'; expected 'little' or 'big'")
            }
        }

        let pkl = try contents(of: pklEntry, in: archive, name: name)
        let place = "\(name): \(pklPath)"
        let resolver = TorchResolver(options: options)
        var unpickler = Unpickler(pkl, place: place, resolver: resolver)
        let object = try unpickler.load()
        let graph = [object] + unpickler.takeLeftovers()
        defer { PObj.dismantle(graph) }

        var cache: [String: [UInt8]] = [:]
        var decoder = PthDecoder(place: place, littleEndian: littleEndian) { s in
            if let b = cache[s.key] { return b }
            let path = prefix + "data/" + s.key
            guard let e = entries[path] else {
                throw SamdgError(name, "storage entry '\(path)' (key '\(s.key)', \(s.storageClass), \(s.numel) elements) is missing from the archive")
            }
            let b = try contents(of: e, in: archive, name: name)
            cache[s.key] = b
            return b
        }
        return PthCheckpoint(path: name, format: .zip, root: try decoder.value(object))
    }

    /// The entry's bytes; a CRC mismatch or a short read names the entry.
    private static func contents(of entry: Entry, in archive: Archive, name: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Int(min(entry.uncompressedSize, 1 << 28)))   // a header may lie; grow past this
        let crc: CRC32
        do {
            crc = try archive.extract(entry, skipCRC32: false) { chunk in out.append(contentsOf: chunk) }
        } catch {
            throw SamdgError("\(name): \(entry.path)", "cannot extract the zip entry (\(describe(error))); the archive is corrupt or truncated")
        }
        guard UInt64(out.count) == entry.uncompressedSize else {
            throw SamdgError("\(name): \(entry.path)", "zip entry holds \(out.count) bytes; its header declares \(entry.uncompressedSize) (truncated)")
        }
        // `extract(_:consumer:)` computes the CRC-32 but leaves the comparison to the caller.
        guard crc == entry.checksum else {
            throw SamdgError("\(name): \(entry.path)", "zip entry fails its CRC-32 check (computed \(String(crc, radix: 16)), stored \(String(entry.checksum, radix: 16))): corrupt data")
        }
        return out
    }

    private static func describe(_ error: Error) -> String {
        guard let e = error as? Archive.ArchiveError else { return "\(error)" }
        switch e {
        case .missingEndOfCentralDirectoryRecord: return "no end-of-central-directory record: truncated or not a zip"
        case .unreadableArchive: return "unreadable: truncated or damaged"
        case .invalidCRC32: return "CRC-32 mismatch: corrupt data"
        case .invalidCompressionMethod: return "unknown compression method"
        default: return "\(e)"
        }
    }
}
