/// A bounds-checked cursor over bytes from a file. Every read checks the remaining length, so a
/// truncated or corrupt file becomes a `PickleFault` (turned into a `SamdgError` by the caller
/// with the file name), never a crash.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var position: Int

    init(_ bytes: [UInt8], at position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }
    var atEnd: Bool { position >= bytes.count }

    /// Fails unless `n` more bytes exist; `what` says what was being read.
    func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else {
            throw PickleFault("truncated: \(what) needs \(n) byte(s) at byte \(position), only \(max(remaining, 0)) left")
        }
    }

    mutating func u8(_ what: String) throws -> UInt8 {
        try need(1, what)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
        try need(n, what)
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func skip(_ n: Int, _ what: String) throws {
        try need(n, what)
        position += n
    }

    /// Little-endian unsigned integer of `n` ≤ 8 bytes.
    mutating func uintLE(_ n: Int, _ what: String) throws -> UInt64 {
        let s = try take(n, what)
        var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    /// Little-endian two's-complement signed integer of `n` ≤ 8 bytes (pickle LONG1 / BININT).
    mutating func intLE(_ n: Int, _ what: String) throws -> Int64 {
        let u = try uintLE(n, what)
        if n == 0 { return 0 }
        if n >= 8 { return Int64(bitPattern: u) }
        let shift = UInt64(64 - 8 * n)
        return Int64(bitPattern: u << shift) >> Int64(shift)
    }

    /// A length read as `n` little-endian bytes, checked to fit an `Int` and the remaining bytes.
    mutating func length(_ n: Int, _ what: String) throws -> Int {
        let start = position
        let u = try uintLE(n, what)
        guard u <= UInt64(remaining) else {
            throw PickleFault("truncated: \(what) declares \(u) byte(s) at byte \(start), only \(remaining) left")
        }
        return Int(u)
    }

    /// Bytes up to (not including) the next `\n`, which is consumed (protocol-0 text arguments).
    mutating func line(_ what: String) throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else {
            throw PickleFault("truncated: \(what) at byte \(position) has no terminating newline")
        }
        let s = String(decoding: bytes[position..<end], as: UTF8.self)
        position = end + 1
        return s
    }
}

/// An error inside the reader before the file/place is attached.
struct PickleFault: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
