import Foundation
import Tensor

/// One entry of an import, in id order: an image with its mask, or a file that has no partner.
enum PairingEntry {
    case pair(id: String, image: String, mask: String)
    case unpaired(file: String, reason: String)

    var sortKey: String {
        switch self {
        case .pair(let id, _, _): return id
        case .unpaired(let file, _): return (file as NSString).lastPathComponent
        }
    }

    var isPair: Bool {
        if case .pair = self { return true }
        return false
    }

    /// The image (of a pair) or the file.
    var path: String {
        switch self {
        case .pair(_, let image, _): return image
        case .unpaired(let file, _): return file
        }
    }
}

/// Listing folders and pairing image files with mask files by base name.
enum FilePairing {
    /// Throws unless `path` is a directory; `role` says what it should hold.
    static func requireFolder(_ path: String, role: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SamdgError(path, "no such folder (expected \(role))")
        }
        guard isDir.boolValue else { throw SamdgError(path, "is a file (expected a folder holding \(role))") }
    }

    /// Names of the visible regular files in `dir` whose name ends with one of `extensions`
    /// (lowercase, with the dot, e.g. ".nii.gz"), with their base names.
    static func files(in dir: String, extensions: [String]) throws -> [(name: String, stem: String)] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw SamdgError(dir, "cannot list the folder: \(error.localizedDescription)")
        }
        return names.sorted(by: naturalLess).compactMap { name in
            guard !name.hasPrefix(".") else { return nil }
            var isDir: ObjCBool = false
            let path = (dir as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { return nil }
            let lower = name.lowercased()
            guard let ext = extensions.filter({ lower.hasSuffix($0) }).max(by: { $0.count < $1.count }),
                  name.count > ext.count else { return nil }
            return (name, String(name.dropLast(ext.count)))
        }
    }

    /// Pairs `imagesDir/X.*` with `masksDir/X.*` (same base name, any of `extensions`).
    /// `maskStem` maps an image's base name to its mask's (identity for separate folders).
    /// Files without a partner, and a second file with a base name already taken, come back as
    /// `.unpaired` with the reason. Entries are in natural name order of their ids.
    static func pair(imagesDir: String, masksDir: String, extensions: [String],
                     maskStem: (String) -> String = { $0 },
                     isMask: ((String) -> Bool)? = nil) throws -> [PairingEntry] {
        var entries: [PairingEntry] = []
        var imageFiles = try files(in: imagesDir, extensions: extensions)
        var maskFiles = imagesDir == masksDir ? imageFiles : try files(in: masksDir, extensions: extensions)
        if let isMask {   // one folder holds both
            maskFiles = imageFiles.filter { isMask($0.stem) }
            imageFiles = imageFiles.filter { !isMask($0.stem) }
        }
        func unique(_ list: [(name: String, stem: String)], _ dir: String) -> [String: String] {
            var byStem: [String: String] = [:]
            for f in list {
                let path = (dir as NSString).appendingPathComponent(f.name)
                if let first = byStem[f.stem] {
                    entries.append(.unpaired(file: path, reason: "shares its base name \"\(f.stem)\" with \((first as NSString).lastPathComponent) (expected one file per name)"))
                } else {
                    byStem[f.stem] = path
                }
            }
            return byStem
        }
        let images = unique(imageFiles, imagesDir), masks = unique(maskFiles, masksDir)
        var usedMasks = Set<String>()
        for (stem, image) in images {
            let want = maskStem(stem)
            if let mask = masks[want] {
                entries.append(.pair(id: stem, image: image, mask: mask))
                usedMasks.insert(want)
            } else {
                entries.append(.unpaired(file: image, reason: "has no mask: no file named \(want).* in \(masksDir) (expected one mask per image, same base name)"))
            }
        }
        for (stem, mask) in masks where !usedMasks.contains(stem) {
            entries.append(.unpaired(file: mask, reason: "has no image with the same base name in \(imagesDir) (expected one image per mask)"))
        }
        // A total order (dictionary order is random per process): id, then pairs first, then path.
        return entries.sorted { a, b in
            if a.sortKey != b.sortKey { return naturalLess(a.sortKey, b.sortKey) }
            if a.isPair != b.isPair { return a.isPair }
            return a.path < b.path
        }
    }

    /// Natural order: digit runs compare as numbers ("2" < "10"), everything else bytewise;
    /// ties (as "01" and "1") are broken bytewise, so the order is total and locale-free.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                var i2 = i, j2 = j
                while i2 < x.count && isDigit(x[i2]) { i2 += 1 }
                while j2 < y.count && isDigit(y[j2]) { j2 += 1 }
                let p = x[i..<i2].drop { $0 == 48 }, q = y[j..<j2].drop { $0 == 48 }
                if p.count != q.count { return p.count < q.count }
                if !p.elementsEqual(q) { return p.lexicographicallyPrecedes(q) }
                i = i2; j = j2
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1; j += 1
            }
        }
        if (x.count - i) != (y.count - j) { return (x.count - i) < (y.count - j) }
        return x.lexicographicallyPrecedes(y)
    }
}
