import Foundation

/// Checks a zip's directory structure with bounds-checked reads before ZIPFoundation sees it.
///
/// ZIPFoundation 0.9.20 trusts the central directory: a corrupt size or offset can trap inside
/// it (integer conversion) instead of throwing. This walks the same structures — the
/// end-of-central-directory record (and its ZIP64 form), every central directory header and
/// every local header — and verifies that each length and offset stays inside the file, so
/// only structurally sound archives reach the library. Contents are not checked here (the
/// CRC-32 check happens on extraction).
enum ZipPreflight {
    static func check(url: URL) throws {
        guard let handle = try? FileHandle(forReadingFrom: url) else { throw PickleFault("cannot open the file") }
        defer { try? handle.close() }
        let size = Int(handle.seekToEndOfFile())
        func read(_ offset: Int, _ count: Int, _ what: String) throws -> ByteReader {
            guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
                throw PickleFault("\(what) at byte \(offset) (\(count) bytes) lies outside the \(size)-byte file: truncated or corrupt")
            }
            handle.seek(toFileOffset: UInt64(offset))
            let d = handle.readData(ofLength: count)
            guard d.count == count else { throw PickleFault("short read of \(what) at byte \(offset)") }
            return ByteReader([UInt8](d))
        }

        // End of central directory: 22 bytes + comment (≤ 65535) at the end of the file.
        let tailLength = min(size, 22 + 65_535)
        let tail = try read(size - tailLength, tailLength, "the archive tail").bytes
        guard tail.count >= 22, let eocd = stride(from: tail.count - 22, through: 0, by: -1).first(where: {
            tail[$0] == 0x50 && tail[$0 + 1] == 0x4B && tail[$0 + 2] == 0x05 && tail[$0 + 3] == 0x06
        }) else { throw PickleFault("no end-of-central-directory record: truncated or not a zip") }
        let eocdOffset = size - tailLength + eocd
        var r = ByteReader(Array(tail[eocd...]))
        try r.skip(10, "EOCD header")
        var count = Int(try r.uintLE(2, "EOCD entry count"))
        var cdSize = Int(try r.uintLE(4, "EOCD directory size"))
        var cdOffset = Int(try r.uintLE(4, "EOCD directory offset"))
        // ZIP64: a 20-byte locator before the EOCD points at the ZIP64 EOCD record. torch writes
        // one even for small files, and ZIPFoundation then takes the directory from it.
        let saturated = count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF
        var locator: ByteReader? = nil
        if eocdOffset >= 20 {
            var loc = try read(eocdOffset - 20, 20, "the ZIP64 locator")
            if try loc.uintLE(4, "locator signature") == 0x0706_4B50 { locator = loc }
        }
        if saturated && locator == nil { throw PickleFault("ZIP64 locator missing before the EOCD") }
        if var loc = locator {
            try loc.skip(4, "locator disk")
            let recordOffset = try loc.uintLE(8, "ZIP64 EOCD offset")
            guard recordOffset < UInt64(size) else { throw PickleFault("ZIP64 EOCD offset \(recordOffset) is outside the file") }
            var rec = try read(Int(recordOffset), 56, "the ZIP64 EOCD record")
            guard try rec.uintLE(4, "ZIP64 EOCD signature") == 0x0606_4B50 else { throw PickleFault("ZIP64 EOCD record has a bad signature") }
            try rec.skip(28, "ZIP64 EOCD header")
            let n = try rec.uintLE(8, "ZIP64 entry count"), s = try rec.uintLE(8, "ZIP64 directory size"), o = try rec.uintLE(8, "ZIP64 directory offset")
            guard n <= UInt64(size), s <= UInt64(size), o <= UInt64(size) else { throw PickleFault("ZIP64 directory fields exceed the file") }
            count = Int(n); cdSize = Int(s); cdOffset = Int(o)
        }
        var cd = try read(cdOffset, cdSize, "the central directory")
        for i in 0..<count {
            let what = "central directory entry \(i)"
            guard try cd.uintLE(4, what) == 0x0201_4B50 else { throw PickleFault("\(what) has a bad signature: corrupt directory") }
            try cd.skip(16, what)
            var compressed = try cd.uintLE(4, what)
            var uncompressed = try cd.uintLE(4, what)
            let nameLength = Int(try cd.uintLE(2, what)), extraLength = Int(try cd.uintLE(2, what))
            let commentLength = Int(try cd.uintLE(2, what))
            try cd.skip(8, what)
            var localOffset = try cd.uintLE(4, what)
            try cd.skip(nameLength, "\(what) name")
            var extra = ByteReader(Array(try cd.take(extraLength, "\(what) extra field")))
            try cd.skip(commentLength, "\(what) comment")
            // ZIP64 extended information (id 1) replaces the fields saturated at 0xFFFFFFFF, in order.
            while extra.remaining >= 4 {
                let id = try extra.uintLE(2, "extra id"), length = Int(try extra.uintLE(2, "extra length"))
                var field = ByteReader(Array(try extra.take(length, "\(what) extra block")))
                guard id == 1 else { continue }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try field.uintLE(8, "ZIP64 size") }
                if compressed == 0xFFFF_FFFF { compressed = try field.uintLE(8, "ZIP64 compressed size") }
                if localOffset == 0xFFFF_FFFF { localOffset = try field.uintLE(8, "ZIP64 local header offset") }
            }
            guard localOffset < UInt64(size), compressed <= UInt64(size), uncompressed <= UInt64(Int.max / 2) else {
                throw PickleFault("\(what) offset or sizes exceed the \(size)-byte file: corrupt directory")
            }
            var local = try read(Int(localOffset), 30, "\(what) local header")
            guard try local.uintLE(4, "local signature") == 0x0403_4B50 else {
                throw PickleFault("\(what) local header at byte \(localOffset) has a bad signature")
            }
            try local.skip(22, "local header")
            let localName = Int(try local.uintLE(2, "local name length")), localExtra = Int(try local.uintLE(2, "local extra length"))
            let dataStart = Int(localOffset) + 30 + localName + localExtra
            guard dataStart <= size, Int(compressed) <= size - dataStart else {
                throw PickleFault("\(what) data (\(compressed) bytes at byte \(dataStart)) runs past the end of the \(size)-byte file: truncated")
            }
        }
    }
}
