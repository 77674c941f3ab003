import Foundation
import Tensor

/// NIfTI image and mask volumes cut into axial slices (the third axis; see ``NIfTIVolume``).
///
/// Two layouts: `SRC/<images>/X.nii[.gz]` with `SRC/<masks>/X.nii[.gz]` when both subfolders
/// exist (names from the options, default `images`/`masks`), otherwise one folder holding
/// `X.nii.gz` and its mask `X<maskSuffix>.nii.gz` (default suffix `_segmentation`, as
/// PROMISE12 names them). Slice z of volume X gets the id `X_z<zzz>` (zero-padded to at least
/// three digits). A volume pair whose first three extents differ is a bad pair.
enum NIfTIImport {
    static let extensions = [".nii.gz", ".nii"]

    static func run(source: String, options: ImportOptions) throws -> DomainData {
        let sub = Importer.subdirs(.nifti, options)
        let imagesDir = (source as NSString).appendingPathComponent(sub.images)
        let masksDir = (source as NSString).appendingPathComponent(sub.masks)
        var isDir: ObjCBool = false
        let separate = FileManager.default.fileExists(atPath: imagesDir, isDirectory: &isDir) && isDir.boolValue
        if options.imagesSubdir != nil || options.masksSubdir != nil || separate {
            try FilePairing.requireFolder(imagesDir, role: "the image volumes (.nii, .nii.gz)")
            try FilePairing.requireFolder(masksDir, role: "the mask volumes (.nii, .nii.gz)")
        }
        let entries: [PairingEntry]
        if separate {
            entries = try FilePairing.pair(imagesDir: imagesDir, masksDir: masksDir, extensions: extensions)
        } else {
            let suffix = options.maskSuffix
            guard !suffix.isEmpty else {
                throw SamdgError(source, "one folder of volumes needs a non-empty mask suffix (or images/masks subfolders)")
            }
            entries = try FilePairing.pair(imagesDir: source, masksDir: source, extensions: extensions,
                                           maskStem: { $0 + suffix }, isMask: { $0.hasSuffix(suffix) })
        }
        var builder = DomainBuilder(format: .nifti, source: source, options: options, capacityHint: max(1, entries.count))
        try builder.consume(entries, countKey: "volumes") { b, id, imageFile, maskFile in
            try addSlices(id: id, imageFile: imageFile, maskFile: maskFile, into: &b)
        }
        return try builder.finish(subdirs: separate ? sub : nil)
    }

    /// Reads one volume pair and adds its slices.
    private static func addSlices(id: String, imageFile: String, maskFile: String, into b: inout DomainBuilder) throws {
        let image = try NIfTIVolume.read(imageFile), mask = try NIfTIVolume.read(maskFile)
        guard image.values.shape == mask.values.shape else {
            throw SamdgError(maskFile, "mask volume of dims \(mask.header.dims) does not match its image \(b.relative(imageFile)) of dims \(image.header.dims) (expected the same extents)")
        }
        let (nz, ny, nx) = (image.values.shape[0], image.values.shape[1], image.values.shape[2])
        let digits = max(3, String(nz - 1).count)
        b.counts["slices", default: 0] += nz
        for z in 0..<nz {
            if b.isFull { break }
            let index = String(z), padded = String(repeating: "0", count: digits - index.count) + index
            try b.add(id: "\(id)_z\(padded)", image: image.slice(z).reshaped([ny, nx, 1]),
                      maskPixels: mask.slice(z).reshaped([ny, nx, 1]), imageFile: imageFile, maskFile: maskFile)
        }
    }
}
