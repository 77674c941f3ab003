import CImageIO
import Foundation
import Tensor

/// A decoded 2-D image: float32 `[H, W, C]` samples in the file's own units (0…255 for 8-bit
/// files, 0…65535 for 16-bit ones), `C` = 1 (gray) or 3 (RGB).
public struct Raster {
    public let pixels: Tensor
    /// Bits per sample in the file after decoding (8 or 16).
    public let bitDepth: Int

    public var height: Int { pixels.shape[0] }
    public var width: Int { pixels.shape[1] }
    public var channels: Int { pixels.shape[2] }

    public init(pixels: Tensor, bitDepth: Int) {
        self.pixels = pixels
        self.bitDepth = bitDepth
    }

    /// Takes ownership of a raster the C decoders filled, converts its samples to float32 and
    /// frees it.
    init(taking raw: inout samdg_raster, place: String) throws {
        defer { samdg_image_free(raw.pixels); raw.pixels = nil }
        let (h, w, c) = (Int(raw.height), Int(raw.width), Int(raw.channels))
        let count = h * w * c
        guard let base = raw.pixels, raw.bit_depth == 8 || raw.bit_depth == 16,
              raw.byte_count == count * Int(raw.bit_depth) / 8 else {
            throw SamdgError(place, "the decoder returned an inconsistent raster (\(h)×\(w)×\(c), \(raw.bit_depth) bits)")
        }
        let t = Tensor(uninitialized: [h, w, c])
        let dst = t.floats
        if raw.bit_depth == 8 {
            let src = base.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { dst[i] = Float(src[i]) }
        } else {
            let src = base.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = Float(src[i]) }
        }
        pixels = t
        bitDepth = Int(raw.bit_depth)
    }
}

/// Reading whole files for the decoders.
enum FileBytes {
    /// The bytes of the file at `path`; `what` names the expected content for the message.
    static func read(_ path: String, expecting what: String) throws -> [UInt8] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SamdgError(path, "no such file (expected \(what))")
        }
        guard !isDir.boolValue else { throw SamdgError(path, "is a directory (expected \(what))") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SamdgError(path, "cannot read the file (expected \(what))")
        }
        return [UInt8](data)
    }
}

/// PNG or JPEG, told apart by their signatures rather than by the file's extension.
public enum ImageFile {
    /// Decodes the PNG or JPEG file at `path`.
    public static func read(_ path: String) throws -> Raster {
        let bytes = try FileBytes.read(path, expecting: "a PNG or JPEG image")
        return try decode(bytes, place: path)
    }

    public static func decode(_ bytes: [UInt8], place: String) throws -> Raster {
        if bytes.starts(with: PNG.signature) { return try PNG.decode(bytes, place: place) }
        if bytes.starts(with: JPEG.signature) { return try JPEG.decode(bytes, place: place) }
        let head = bytes.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
        throw SamdgError(place, bytes.isEmpty ? "empty file (expected a PNG or JPEG image)"
            : "neither a PNG nor a JPEG image (first bytes \(head); expected 89 50 4E 47… or FF D8 FF…)")
    }
}
