import Foundation
import H5
import Tensor

/// The domain file: one HDF5 file per domain, readable with h5py.
///
/// | object | type | content |
/// | --- | --- | --- |
/// | `/images` | float32 `[N, H, W, 3]` | images in source intensity units (gray replicated to 3 channels) |
/// | `/masks` | uint8 `[N, H, W]` | binary masks, 0 or 1 |
/// | `/ids` | uint8 `[B]` | the N sample ids as UTF-8, joined by `"\n"` (no trailing newline) |
/// | attribute `layout` | string | `"samdg-domain/1"` |
/// | attribute `domain` | string | the domain's name |
/// | attribute `format` | string | `saml`, `folder`, `nifti` or `phantom` |
/// | attribute `mask_rule` | string | the ``MaskRule`` text (`generated` for phantoms) |
/// | attribute `provenance` | string | ``Provenance`` JSON (source, options, counts, skipped files) |
///
/// String attributes are fixed-length UTF-8 (h5py gives `bytes`; `.decode()`). In Python:
///
/// ```python
/// f = h5py.File("kvasir.h5")
/// ids = f["ids"][()].tobytes().decode().split("\n")
/// images, masks = f["images"][()], f["masks"][()]
/// prov = json.loads(f.attrs["provenance"].decode())
/// ```
///
/// Writes go through ``H5File/writeAtomically(to:_:)`` and HDF5 object times are off, so the
/// same data gives the same bytes.
extension DomainData {
    public static let layout = "samdg-domain/1"

    /// Writes the domain file at `path` (atomically; an existing file is replaced).
    public func write(to path: String) throws {
        let joined = ids.joined(separator: "\n")
        let idBytes = Tensor(zeros: [joined.utf8.count], dtype: .uint8)
        UnsafeMutableRawBufferPointer(start: idBytes.storage.raw, count: joined.utf8.count)
            .copyBytes(from: Array(joined.utf8))
        let provenance = try attributes.provenance.json()
        try H5File.writeAtomically(to: path) { f in
            try f.write(images, at: "images")
            try f.write(masks, at: "masks")
            try f.write(idBytes, at: "ids")
            try f.setAttribute("layout", Self.layout)
            try f.setAttribute("domain", domain)
            try f.setAttribute("format", attributes.format)
            try f.setAttribute("mask_rule", attributes.maskRule)
            try f.setAttribute("provenance", provenance)
        }
    }

    /// Reads and checks a domain file.
    public static func read(from path: String) throws -> DomainData {
        let f = try H5File.open(path)
        defer { try? f.close() }
        let layout = try f.stringAttribute("layout")
        guard layout == Self.layout else {
            throw SamdgError(path, "layout attribute is \"\(layout)\" (expected \"\(Self.layout)\")")
        }
        for name in ["images", "masks", "ids"] where f.kind(name) != .dataset {
            throw SamdgError("\(path):/\(name)", "missing (expected a domain file with /images, /masks and /ids)")
        }
        let images = try f.read("images"), masks = try f.read("masks"), idBytes = try f.read("ids")
        guard idBytes.dtype == .uint8, idBytes.rank == 1 else {
            throw SamdgError("\(path):/ids", "expected uint8 [B] (UTF-8 ids joined by newlines), got \(idBytes.dtype) \(ShapeMath.describe(idBytes.shape))")
        }
        guard let text = String(bytes: idBytes.buffer(UInt8.self), encoding: .utf8) else {
            throw SamdgError("\(path):/ids", "is not UTF-8 text")
        }
        let ids = text.isEmpty ? [] : text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let provenance = try Provenance.parse(try f.stringAttribute("provenance"), place: "\(path):/ attribute \"provenance\"")
        let attributes = DomainAttributes(format: try f.stringAttribute("format"),
                                          maskRule: try f.stringAttribute("mask_rule"), provenance: provenance)
        return try DomainData(domain: try f.stringAttribute("domain"), ids: ids, images: images, masks: masks,
                              attributes: attributes, place: path)
    }
}
