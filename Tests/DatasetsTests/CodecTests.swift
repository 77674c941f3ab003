import Datasets
import Foundation
import Tensor
import XCTest

/// PNG and JPEG decoding (libpng / libjpeg-turbo through CImageIO) and the PNG encoder.
final class CodecTests: XCTestCase {
    // MARK: - Hand-built PNGs: the expected pixels are known by construction.

    /// A PNG from raw scanlines (each gets filter type 0), built here with zlib and CRC-32 only.
    static func handBuiltPNG(width: Int, height: Int, bitDepth: UInt8, colorType: UInt8, rows: [[UInt8]],
                             palette: [UInt8]? = nil, transparency: [UInt8]? = nil) -> [UInt8] {
        func be32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) } }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body: [UInt8] = Array(type.utf8) + data
            var out = be32(data.count)
            out += body
            out += be32(Int(Fixtures.crc(body)))
            return out
        }
        var ihdr = be32(width)
        ihdr += be32(height)
        ihdr += [bitDepth, colorType, 0, 0, 0]
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png += chunk("IHDR", ihdr)
        if let palette { png += chunk("PLTE", palette) }
        if let transparency { png += chunk("tRNS", transparency) }
        var scanlines: [UInt8] = []
        for row in rows { scanlines.append(0); scanlines += row }
        png += chunk("IDAT", Fixtures.deflate(scanlines))
        png += chunk("IEND", [])
        return png
    }

    func testSixteenBitGrayKeepsOrStripsSamples() throws {
        let values: [UInt16] = [0, 1, 256, 65535, 4660, 40000]
        var rows: [[UInt8]] = [[], []]
        for (i, v) in values.enumerated() { rows[i / 3] += [UInt8(v >> 8), UInt8(v & 255)] }
        let png = Self.handBuiltPNG(width: 3, height: 2, bitDepth: 16, colorType: 0, rows: rows)
        let full = try PNG.decode(png)
        XCTAssertEqual(full.pixels.shape, [2, 3, 1])
        XCTAssertEqual(full.bitDepth, 16)
        XCTAssertEqual(full.pixels.scalars, values.map(Float.init))
        let stripped = try PNG.decode(png, strip16: true)
        XCTAssertEqual(stripped.bitDepth, 8)
        XCTAssertEqual(stripped.pixels.scalars, values.map { Float($0 >> 8) })
    }

    func testAlphaIsDroppedAndLowBitDepthsExpand() throws {
        // gray + alpha → gray
        let ga = try PNG.decode(Self.handBuiltPNG(width: 2, height: 2, bitDepth: 8, colorType: 4,
                                                 rows: [[10, 255, 20, 0], [30, 128, 40, 1]]))
        XCTAssertEqual(ga.pixels.shape, [2, 2, 1])
        XCTAssertEqual(ga.pixels.scalars, [10, 20, 30, 40])
        // RGBA 16-bit → RGB 16-bit
        let rgba = try PNG.decode(Self.handBuiltPNG(width: 1, height: 1, bitDepth: 16, colorType: 6,
                                                   rows: [[1, 2, 3, 4, 5, 6, 7, 8]]))
        XCTAssertEqual(rgba.pixels.shape, [1, 1, 3])
        XCTAssertEqual(rgba.pixels.scalars, [258, 772, 1286])
        // 1-bit gray → 0 / 255
        let bits = try PNG.decode(Self.handBuiltPNG(width: 8, height: 1, bitDepth: 1, colorType: 0, rows: [[0b1010_0011]]))
        XCTAssertEqual(bits.pixels.scalars, [255, 0, 255, 0, 0, 0, 255, 255])
        // 2-bit palette with transparency → RGB, transparency ignored
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7]
        let pal = try PNG.decode(Self.handBuiltPNG(width: 4, height: 1, bitDepth: 2, colorType: 3,
                                                  rows: [[0b00_01_10_11]], palette: palette, transparency: [0, 128]))
        XCTAssertEqual(pal.pixels.shape, [1, 4, 3])
        XCTAssertEqual(pal.pixels.scalars, palette.map(Float.init))
    }

    func testEncodeDecodeRoundTrip() throws {
        let rgb = Fixtures.image(37, 53) { y, x, c in UInt8((y * 7 + x * 3 + c * 85) % 256) }
        let png = try PNG.encode(rgb)
        let back = try PNG.decode(png)
        XCTAssertEqual(back.pixels.shape, [37, 53, 3])
        XCTAssertEqual(back.pixels.scalars, rgb.scalars)
        XCTAssertEqual(try PNG.encode(rgb), png, "equal pixels give equal bytes")

        let gray = Fixtures.image(5, 4, channels: nil) { y, x, _ in UInt8(y * 40 + x) }
        XCTAssertEqual(try PNG.decode(try PNG.encode(gray)).pixels.scalars, gray.scalars)
        // float32 input is rounded and clamped
        let f = Tensor(shape: [1, 4], [-3, 0.4, 127.5, 300])
        XCTAssertEqual(try PNG.decode(try PNG.encode(f)).pixels.scalars, [0, 0, 128, 255])

        let dir = try Fixtures.temporaryDirectory(self)
        try PNG.write(rgb, to: dir + "/sub/overlay.png")
        XCTAssertEqual(try PNG.read(dir + "/sub/overlay.png").pixels.scalars, rgb.scalars)
        assertThrows(try PNG.encode(Tensor(zeros: [4, 4, 2], dtype: .uint8)), mentioning: ["[4, 4, 2]", "[H, W, 3]"])
    }

    func testCorruptPNGsAreErrors() throws {
        let good = try PNG.encode(Fixtures.image(16, 16) { y, x, c in UInt8(y * 16 + x + c) })
        assertThrows(try PNG.decode(Array(good.prefix(good.count / 2)), place: "half.png"), mentioning: ["half.png", "PNG"])
        var badCRC = good
        badCRC[40] ^= 0xFF   // inside IDAT
        assertThrows(try PNG.decode(badCRC, place: "crc.png"), mentioning: ["crc.png", "cannot decode PNG"])
        assertThrows(try PNG.decode([1, 2, 3], place: "tiny.png"), mentioning: ["tiny.png", "signature"])
        assertThrows(try ImageFile.decode(Array("GIF89a garbage".utf8), place: "x.jpg"), mentioning: ["x.jpg", "neither a PNG nor a JPEG"])
        assertThrows(try ImageFile.read("/nonexistent/a.png"), mentioning: ["/nonexistent/a.png", "no such file"])
    }

    // MARK: - Real files. Reference values from Pillow 11 (its own PNG decoder; libjpeg-turbo 3.2
    // for JPEG) in a throwaway venv: np.asarray(Image.open(p)).astype(np.int64).sum(), a[y, x],
    // and for masks the rule's count with gray = r if r == g == b else float32(0.299r + 0.587g + 0.114b).

    func testProstate158PNG() throws {
        let root = try Fixtures.shared("prostate/prostate158-mini")
        let image = try PNG.read(root + "/images/10002_9.png")
        XCTAssertEqual(image.pixels.shape, [512, 512, 3])
        XCTAssertEqual(image.bitDepth, 8)
        XCTAssertEqual(Fixtures.sum(image.pixels), 47_123_157)
        XCTAssertEqual(Array(image.pixels.scalars[(256 * 512 + 256) * 3..<(256 * 512 + 256) * 3 + 3]), [49, 49, 49])
        XCTAssertEqual(Array(image.pixels.scalars[(100 * 512 + 300) * 3..<(100 * 512 + 300) * 3 + 3]), [90, 90, 90])
        let mask = try PNG.read(root + "/masks/10002_9.png")
        XCTAssertEqual(Fixtures.sum(mask.pixels), 3_493_397)
        let gland = try MaskRule(parsing: "union:R,G>127").apply(mask.pixels, place: "10002_9")
        XCTAssertEqual(Fixtures.sum(gland), 13_727)
    }

    func testKvasirAndCVCJPEG() throws {
        let kvasir = try Fixtures.shared("polyp/Kvasir-SEG")
        let cvc = try Fixtures.shared("polyp/CVC-ClinicDB")
        let cases: [(String, Double, [Float], Double?)] = [
            (kvasir + "/images/cju0qkwl35piu0993l0dewei2.jpg", 22_450_458, [195, 169, 154], nil),
            (kvasir + "/masks/cju0qkwl35piu0993l0dewei2.jpg", 14_174_016, [255, 255, 255], 18_535),
            (cvc + "/images/1.jpg", 14_343_161, [114, 71, 37], nil),
            (cvc + "/masks/1.jpg", 7_839_630, [0, 0, 0], 10_058),
        ]
        for (path, sum, center, foreground) in cases {
            let r = try JPEG.read(path)
            XCTAssertEqual(r.pixels.shape, [256, 256, 3], path)
            XCTAssertEqual(Fixtures.sum(r.pixels), sum, path)
            let o = (128 * 256 + 128) * 3
            XCTAssertEqual(Array(r.pixels.scalars[o..<o + 3]), center, path)
            if let foreground {
                XCTAssertEqual(Fixtures.sum(try MaskRule.threshold(127).apply(r.pixels, place: path)), foreground, path)
            }
        }
    }

    func testCorruptJPEGsAreErrors() throws {
        let kvasir = try Fixtures.shared("polyp/Kvasir-SEG")
        let good = try Fixtures.fileBytes(kvasir + "/images/cju0qkwl35piu0993l0dewei2.jpg")
        assertThrows(try JPEG.decode(Array(good.prefix(good.count / 2)), place: "half.jpg"), mentioning: ["half.jpg", "JPEG"])
        assertThrows(try JPEG.decode(Array(good.prefix(200)), place: "head.jpg"), mentioning: ["head.jpg"])
        assertThrows(try JPEG.decode([0xFF, 0xD8, 0xFF] + Array(repeating: 7, count: 100), place: "junk.jpg"),
                     mentioning: ["junk.jpg", "cannot decode JPEG"])
        assertThrows(try JPEG.decode(Array("not a jpeg".utf8), place: "text.jpg"), mentioning: ["text.jpg", "not a JPEG"])
    }
}
