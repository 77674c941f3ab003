import Foundation
import Tensor

/// One domain of a segmentation dataset in memory: N images with their binary masks, in the
/// order of `ids`. This is what importers and the phantom generator produce and what a domain
/// file (``DomainData/write(to:)``, layout in `DomainFile.swift`) holds.
///
/// - `images`: float32 `[N, H, W, 3]` in the source's intensity units (0…255 for 8-bit files,
///   stored units for NIfTI and `.npy`); gray sources are replicated to three channels.
/// - `masks`: uint8 `[N, H, W]`, every value 0 or 1.
///
/// ```swift
/// let d = try Importer.run(.folder, from: "../shared/data/polyp/Kvasir-SEG",
///                          options: ImportOptions(domain: "kvasir", limit: 20))
/// try d.write(to: "data/kvasir.h5")
/// let back = try DomainData.read(from: "data/kvasir.h5")   // equal to d
/// ```
public struct DomainData {
    public var domain: String
    public var ids: [String]
    public var images: Tensor
    public var masks: Tensor
    public var attributes: DomainAttributes

    public var count: Int { ids.count }
    public var height: Int { images.shape[1] }
    public var width: Int { images.shape[2] }

    /// Checks the layout (see the type's documentation); `place` names the data in errors.
    public init(domain: String, ids: [String], images: Tensor, masks: Tensor,
                attributes: DomainAttributes, place: String = "DomainData") throws {
        guard !domain.isEmpty else { throw SamdgError(place, "the domain needs a non-empty name") }
        guard images.dtype == .float32, images.rank == 4, images.shape[3] == 3 else {
            throw SamdgError(place, "images must be float32 [N, H, W, 3], got \(images.dtype) \(ShapeMath.describe(images.shape))")
        }
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        guard masks.dtype == .uint8, masks.shape == [n, h, w] else {
            throw SamdgError(place, "masks must be uint8 \(ShapeMath.describe([n, h, w])) like the images, got \(masks.dtype) \(ShapeMath.describe(masks.shape))")
        }
        guard ids.count == n else { throw SamdgError(place, "\(ids.count) ids for \(n) images (expected one id per image)") }
        if let bad = ids.firstIndex(where: { $0.isEmpty || $0.contains("\n") }) {
            throw SamdgError(place, "id \(bad) \"\(ids[bad])\" is empty or holds a line break (expected one line of text)")
        }
        var seen = Set<String>()
        if let dup = ids.first(where: { !seen.insert($0).inserted }) {
            throw SamdgError(place, "id \"\(dup)\" appears twice (expected unique ids)")
        }
        let m = masks.buffer(UInt8.self)
        if let i = m.firstIndex(where: { $0 > 1 }) {
            let s = i / max(1, h * w)
            throw SamdgError(place, "mask of \(ids[s]) holds the value \(m[i]) (expected 0 or 1)")
        }
        self.domain = domain
        self.ids = ids
        self.images = images
        self.masks = masks
        self.attributes = attributes
    }

    /// Fraction of mask pixels that are foreground, over all samples (0 when there are none).
    public var foregroundFraction: Double {
        let m = masks.buffer(UInt8.self)
        guard !m.isEmpty else { return 0 }
        return Double(m.reduce(0) { $0 + Int($1) }) / Double(m.count)
    }

    /// Foreground pixel count of sample `i`.
    public func foregroundPixels(_ i: Int) -> Int {
        let hw = height * width
        let m = masks.buffer(UInt8.self)
        return (0..<hw).reduce(0) { $0 + Int(m[i * hw + $1]) }
    }

    /// Image `i` as float32 `[H, W, 3]` (a copy).
    public func image(_ i: Int) -> Tensor { Self.sample(images, i) }

    /// Mask `i` as uint8 `[H, W]` (a copy).
    public func mask(_ i: Int) -> Tensor { Self.sample(masks, i) }

    private static func sample(_ t: Tensor, _ i: Int) -> Tensor {
        let shape = Array(t.shape.dropFirst())
        let out = Tensor(zeros: shape, dtype: t.dtype)
        let bytes = out.count * t.dtype.size
        out.storage.raw.copyMemory(from: t.storage.raw + i * bytes, byteCount: bytes)
        return out
    }
}

/// The descriptive attributes of a domain file.
public struct DomainAttributes: Equatable, Sendable {
    /// How the data was made: `saml`, `folder`, `nifti` or `phantom`.
    public var format: String
    /// The ``MaskRule`` text the masks were made with (`"generated"` for phantoms).
    public var maskRule: String
    public var provenance: Provenance

    public init(format: String, maskRule: String, provenance: Provenance) {
        self.format = format
        self.maskRule = maskRule
        self.provenance = provenance
    }
}
