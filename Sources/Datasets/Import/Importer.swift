import Foundation
import Tensor

/// Builds a ``DomainData`` from data on disk, in one of the ``ImportFormat`` layouts.
///
/// Pairs are taken in natural name order of their ids ("2" before "10"); ids are the files'
/// base names (NIfTI slices: `<volume>_z<index>`, e.g. `Case00_z016`). Bad files follow
/// ``ImportOptions/onError``; the result's provenance lists what was skipped and why.
///
/// ```swift
/// let prostate = try Importer.run(.folder, from: "../shared/data/prostate/prostate158-mini",
///     options: ImportOptions(domain: "prostate158", maskRule: try MaskRule(parsing: "union:R,G>127")))
/// let promise = try Importer.run(.nifti, from: "../shared/data/prostate/promise12-case00",
///     options: ImportOptions(domain: "promise12", foregroundOnly: true))
/// ```
public enum Importer {
    public static func run(_ format: ImportFormat, from source: String, options: ImportOptions) throws -> DomainData {
        try options.validate()
        try FilePairing.requireFolder(source, role: "a dataset in the \(format.rawValue) layout")
        switch format {
        case .saml:
            return try pairedFiles(format, source, options, extensions: [".npy"], read: readNPY)
        case .folder:
            return try pairedFiles(format, source, options, extensions: [".png", ".jpg", ".jpeg"]) {
                try ImageFile.read($0).pixels
            }
        case .nifti:
            return try NIfTIImport.run(source: source, options: options)
        }
    }

    /// The subfolders the options name, or the format's defaults.
    static func subdirs(_ format: ImportFormat, _ options: ImportOptions) -> (images: String, masks: String) {
        (options.imagesSubdir ?? format.defaultSubdirs.images, options.masksSubdir ?? format.defaultSubdirs.masks)
    }

    /// SAML and folder layouts: one image file and one mask file per sample.
    private static func pairedFiles(_ format: ImportFormat, _ source: String, _ options: ImportOptions,
                                    extensions: [String], read: (String) throws -> Tensor) throws -> DomainData {
        let sub = subdirs(format, options)
        let imagesDir = (source as NSString).appendingPathComponent(sub.images)
        let masksDir = (source as NSString).appendingPathComponent(sub.masks)
        try FilePairing.requireFolder(imagesDir, role: "the images (\(extensions.joined(separator: ", ")) files)")
        try FilePairing.requireFolder(masksDir, role: "the masks (\(extensions.joined(separator: ", ")) files)")
        let entries = try FilePairing.pair(imagesDir: imagesDir, masksDir: masksDir, extensions: extensions)
        var builder = DomainBuilder(format: format, source: source, options: options, capacityHint: entries.count)
        try builder.consume(entries, countKey: "pairs") { b, id, imageFile, maskFile in
            let image = try read(imageFile), mask = try read(maskFile)
            try b.add(id: id, image: image, maskPixels: mask, imageFile: imageFile, maskFile: maskFile)
        }
        return try builder.finish(subdirs: sub)
    }

    /// A SAML `.npy`: `[H, W]`, `[H, W, 1]` or `[H, W, 3]` of any numeric dtype → float32 `[H, W, C]`.
    static func readNPY(_ path: String) throws -> Tensor {
        let t = try NPY.read(path)
        let shape: [Int]
        switch t.rank {
        case 2: shape = t.shape + [1]
        case 3 where [1, 3].contains(t.shape[2]): shape = t.shape
        default:
            throw SamdgError(path, "array of shape \(ShapeMath.describe(t.shape)) (expected [H, W], [H, W, 1] or [H, W, 3])")
        }
        let f = t.toFloat32()
        if let bad = f.floats.firstIndex(where: { !$0.isFinite }) {
            throw SamdgError(path, "value \(f.floats[bad]) at flat index \(bad) (expected finite numbers)")
        }
        return f.reshaped(shape)
    }
}
