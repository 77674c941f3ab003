import CImageIO
import Foundation
import Tensor

/// JPEG files through libjpeg-turbo (the C side lives in `CImageIO`): libjpeg's default
/// decoding (islow IDCT, fancy upsampling), gray files give one channel, colour files three
/// (RGB). Data libjpeg would patch over (a truncated file, a corrupt entropy segment) is an
/// error here, not a warning: a dataset should not silently hold gray-filled images.
public enum JPEG {
    static let signature: [UInt8] = [0xFF, 0xD8, 0xFF]

    public static func read(_ path: String) throws -> Raster {
        try decode(try FileBytes.read(path, expecting: "a JPEG image"), place: path)
    }

    public static func decode(_ bytes: [UInt8], place: String = "<jpeg>") throws -> Raster {
        var raw = samdg_raster()
        var warnings: Int32 = 0
        var warn = [CChar](repeating: 0, count: 256)
        var err = [CChar](repeating: 0, count: 512)
        let status = bytes.withUnsafeBufferPointer { b in
            samdg_jpeg_decode(b.baseAddress, b.count, &raw, &warnings, &warn, warn.count, &err, err.count)
        }
        guard status == 0 else {
            throw SamdgError(place, "cannot decode JPEG: \(String(cString: err)) (expected a complete JPEG image)")
        }
        let raster = try Raster(taking: &raw, place: place)
        guard warnings == 0 else {
            throw SamdgError(place, "corrupt JPEG data: \(String(cString: warn))\(warnings > 1 ? " (and \(warnings - 1) more warnings)" : "") (expected a complete, valid JPEG image)")
        }
        return raster
    }
}
