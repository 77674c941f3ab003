import Datasets
import Foundation
import Tensor
import XCTest

/// The NIfTI-1 reader: hand-built headers in both byte orders, the PROMISE12 case, bad files.
final class NIfTITests: XCTestCase {
    /// A single-file NIfTI-1 image: 348-byte header, 4 bytes of extension flag, then the voxels.
    static func niftiBytes(dims: [Int], datatype: Int16, bitpix: Int16, voxels: [UInt8], bigEndian: Bool,
                           slope: Float = 0, inter: Float = 0, sizeofHdr: Int32 = 348) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 352)
        func put16(_ v: Int16, _ o: Int) {
            let u = UInt16(bitPattern: v)
            let b = [UInt8(u & 255), UInt8(u >> 8)]
            h[o] = bigEndian ? b[1] : b[0]; h[o + 1] = bigEndian ? b[0] : b[1]
        }
        func put32(_ u: UInt32, _ o: Int) {
            for k in 0..<4 { h[o + (bigEndian ? 3 - k : k)] = UInt8(truncatingIfNeeded: u >> (8 * k)) }
        }
        put32(UInt32(bitPattern: sizeofHdr), 0)
        put16(Int16(dims.count), 40)
        for (i, d) in dims.enumerated() { put16(Int16(d), 42 + 2 * i) }
        put16(datatype, 70)
        put16(bitpix, 72)
        for i in 0..<8 { put32(Float(1).bitPattern, 76 + 4 * i) }
        put32(Float(352).bitPattern, 108)
        put32(slope.bitPattern, 112)
        put32(inter.bitPattern, 116)
        for (i, c) in "n+1\0".utf8.enumerated() { h[344 + i] = c }
        return h + voxels
    }

    /// int16 voxels 0, -1, 2, -3, … in the given byte order.
    static func int16Voxels(_ n: Int, bigEndian: Bool) -> [UInt8] {
        (0..<n).flatMap { i -> [UInt8] in
            let u = UInt16(bitPattern: Int16(i % 2 == 0 ? i : -i))
            return bigEndian ? [UInt8(u >> 8), UInt8(u & 255)] : [UInt8(u & 255), UInt8(u >> 8)]
        }
    }

    func testBothByteOrdersWithScaling() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let dims = [4, 3, 2]   // x, y, z
        let expected: [Float] = (0..<24).map { (i: Int) -> Float in
            let stored = Float(i % 2 == 0 ? i : -i)
            return stored * 2 + 1
        }
        for big in [false, true] {
            let path = dir + "/v\(big ? "be" : "le").nii"
            try Fixtures.write(Self.niftiBytes(dims: dims, datatype: 4, bitpix: 16, voxels: Self.int16Voxels(24, bigEndian: big),
                                               bigEndian: big, slope: 2, inter: 1), to: path)
            let v = try NIfTIVolume.read(path)
            XCTAssertEqual(v.header.bigEndian, big)
            XCTAssertEqual(v.header.dims, dims)
            XCTAssertEqual(v.values.shape, [2, 3, 4], "[nz, ny, nx]")
            XCTAssertEqual(v.values.scalars, expected, big ? "big-endian" : "little-endian")
            XCTAssertEqual(v.slice(1).scalars, Array(expected[12..<24]))
        }
    }

    func testDatatypesAndGzip() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let raw: [UInt8] = [0, 1, 127, 128, 200, 255]
        var f32: [UInt8] = [], f64: [UInt8] = []
        for v: Float in [-1.5, 0, 2.25] { withUnsafeBytes(of: v.bitPattern.littleEndian) { f32 += $0 } }
        for v: Double in [3.5, -7] { withUnsafeBytes(of: v.bitPattern.littleEndian) { f64 += $0 } }
        let cases: [(Int16, Int16, [UInt8], [Int], [Float])] = [
            (2, 8, raw, [6], [0, 1, 127, 128, 200, 255]),
            (256, 8, raw, [6], [0, 1, 127, -128, -56, -1]),
            (512, 16, [1, 0, 255, 255, 0, 128], [3], [1, 65535, 32768]),
            (8, 32, [255, 255, 255, 255, 1, 0, 0, 0], [2], [-1, 1]),
            (16, 32, f32, [3], [-1.5, 0, 2.25]),
            (64, 64, f64, [2], [3.5, -7]),
        ]
        for (type, bits, voxels, dims, expected) in cases {
            let bytes = Self.niftiBytes(dims: dims, datatype: type, bitpix: bits, voxels: voxels, bigEndian: false)
            let plain = dir + "/t\(type).nii", gz = dir + "/t\(type).nii.gz"
            try Fixtures.write(bytes, to: plain)
            Fixtures.writeGzip(bytes, to: gz)
            XCTAssertEqual(try NIfTIVolume.read(plain).values.scalars, expected, "datatype \(type)")
            XCTAssertEqual(try NIfTIVolume.read(gz).values.scalars, expected, "datatype \(type), gzip")
        }
    }

    func testBadFilesAreErrors() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let good = Self.niftiBytes(dims: [4, 3, 2], datatype: 4, bitpix: 16, voxels: Self.int16Voxels(24, bigEndian: false), bigEndian: false)
        func expect(_ bytes: [UInt8], _ name: String, _ parts: [String]) throws {
            let path = dir + "/" + name
            try Fixtures.write(bytes, to: path)
            assertThrows(try NIfTIVolume.read(path), mentioning: [path] + parts)
        }
        try expect(Self.niftiBytes(dims: [4, 3, 2], datatype: 4, bitpix: 16, voxels: [], bigEndian: false, sizeofHdr: 349),
                   "hdr.nii", ["sizeof_hdr is 349", "expected 348"])
        try expect(Array(good.prefix(200)), "short.nii", ["truncated NIfTI header", "200 bytes"])
        try expect(Array(good.prefix(352 + 30)), "cut.nii", ["truncated voxel data", "expected 48"])
        try expect(Self.niftiBytes(dims: [4, 3, 2], datatype: 1024, bitpix: 64, voxels: [], bigEndian: false), "type.nii",
                   ["datatype 1024 is not supported"])
        try expect(Self.niftiBytes(dims: [4, 3, 2], datatype: 4, bitpix: 8, voxels: [], bigEndian: false), "bitpix.nii",
                   ["bitpix 8 does not match datatype int16"])
        try expect(Self.niftiBytes(dims: [4, 3, 2, 5], datatype: 4, bitpix: 16, voxels: [], bigEndian: false), "time.nii",
                   ["expected a 3-D volume"])
        var magic = good
        magic[345] = UInt8(ascii: "x")
        try expect(magic, "magic.nii", ["bad NIfTI-1 magic"])
        // A gzip stream cut short.
        let gz = dir + "/full.nii.gz"
        Fixtures.writeGzip(good, to: gz)
        let zipped = try Fixtures.fileBytes(gz)
        try expect(Array(zipped.prefix(zipped.count - 6)), "cut.nii.gz", ["failed"])
        assertThrows(try NIfTIVolume.read(dir + "/missing.nii.gz"), mentioning: ["missing.nii.gz", "no such file"])
    }

    /// Reference values from nibabel 5 (`img.get_fdata()`; slice z = `a[:, :, z].T`).
    func testPromise12Case() throws {
        let root = try Fixtures.shared("prostate/promise12-case00")
        let image = try NIfTIVolume.read(root + "/Case00.nii.gz")
        XCTAssertEqual(image.header.dims, [128, 128, 64])
        XCTAssertEqual(image.header.datatype, .float64)
        XCTAssertEqual(image.values.shape, [64, 128, 128])
        let values = image.values.scalars
        XCTAssertEqual(values[(30 * 128 + 70) * 128 + 64], 381.54102)   // a[64, 70, 30]
        XCTAssertEqual(values[(5 * 128 + 100) * 128 + 10], 66.234375)   // a[10, 100, 5]
        XCTAssertEqual(Fixtures.sum(image.slice(30)), 3_630_374.908203125, accuracy: 1)
        XCTAssertEqual(values.reduce(0.0) { $0 + Double($1) }, 222_456_708.86523438, accuracy: 1)
        let mask = try NIfTIVolume.read(root + "/Case00_segmentation.nii.gz")
        XCTAssertEqual(mask.header.datatype, .uint8)
        XCTAssertEqual(Fixtures.sum(mask.values), 23_629)
        XCTAssertEqual(Fixtures.sum(mask.slice(30)), 1_106)
        let slicesWithMask = (0..<64).filter { Fixtures.sum(mask.slice($0)) > 0 }
        XCTAssertEqual(slicesWithMask, Array(16...49))
    }
}
