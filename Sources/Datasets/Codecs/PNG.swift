import CImageIO
import Foundation
import Tensor

/// PNG files through libpng (the C side lives in `CImageIO`).
///
/// Decoding keeps the file's samples: 8-bit files give 0…255, 16-bit files 0…65535 (or 0…255
/// with `strip16`, libpng's high-byte truncation). Gray and gray+alpha give one channel; RGB,
/// RGBA and palette images give three; alpha and tRNS transparency are dropped, bit depths
/// below 8 are expanded.
///
/// ```swift
/// let r = try PNG.read("masks/10002_9.png")        // Raster, pixels float32 [512, 512, 3]
/// try PNG.write(overlay, to: "report/overlay.png")  // uint8 or float32 [H, W, 3] or [H, W]
/// ```
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public static func read(_ path: String, strip16: Bool = false) throws -> Raster {
        try decode(try FileBytes.read(path, expecting: "a PNG image"), place: path, strip16: strip16)
    }

    public static func decode(_ bytes: [UInt8], place: String = "<png>", strip16: Bool = false) throws -> Raster {
        var raw = samdg_raster()
        var err = [CChar](repeating: 0, count: 512)
        let status = bytes.withUnsafeBufferPointer { b in
            samdg_png_decode(b.baseAddress, b.count, strip16 ? 1 : 0, &raw, &err, err.count)
        }
        guard status == 0 else {
            throw SamdgError(place, "cannot decode PNG: \(String(cString: err)) (expected a complete PNG image)")
        }
        return try Raster(taking: &raw, place: place)
    }

    /// Encodes an 8-bit image: uint8 or float32 (rounded and clamped to 0…255), shaped
    /// `[H, W, 3]` (RGB), `[H, W, 1]` or `[H, W]` (gray). Equal pixels give equal bytes (no
    /// time chunk).
    public static func encode(_ image: Tensor, place: String = "PNG.encode") throws -> [UInt8] {
        let channels = image.rank == 3 ? image.shape[2] : 1
        guard image.rank == 2 || (image.rank == 3 && (channels == 1 || channels == 3)) else {
            throw SamdgError(place, "expected an image [H, W], [H, W, 1] or [H, W, 3], got shape \(ShapeMath.describe(image.shape))")
        }
        guard image.dtype == .uint8 || image.dtype == .float32 else {
            throw SamdgError(place, "expected uint8 or float32 pixels, got \(image.dtype)")
        }
        let (h, w) = (image.shape[0], image.shape[1])
        guard (1...65535).contains(h), (1...65535).contains(w) else {
            throw SamdgError(place, "expected 1 to 65535 rows and columns, got \(h)×\(w)")
        }
        var pixels: [UInt8]
        if image.dtype == .uint8 {
            pixels = Array(image.buffer(UInt8.self))
        } else {
            pixels = image.floats.map { v in v.isNaN ? 0 : UInt8(max(0, min(255, v.rounded()))) }
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var err = [CChar](repeating: 0, count: 512)
        let status = pixels.withUnsafeMutableBufferPointer { p in
            samdg_png_encode(p.baseAddress, Int32(w), Int32(h), Int32(channels), &out, &size, &err, err.count)
        }
        defer { samdg_image_free(out) }
        guard status == 0, let out else { throw SamdgError(place, "cannot encode PNG: \(String(cString: err))") }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Encodes `image` (see `encode`) and writes it to `path` atomically.
    public static func write(_ image: Tensor, to path: String) throws {
        try AtomicFile.write(Data(try encode(image, place: path)), to: path)
    }
}
