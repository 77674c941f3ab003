import Foundation

/// NumPy `.npy` files: versions 1.0, 2.0 and 3.0; C and Fortran order; dtypes
/// `<f4 <f8 <i8 |u1 |b1` (and their `=`/`|` spellings). Format reference:
/// numpy/lib/format.py (magic, version, little-endian header length, Python-literal dict header).
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SamdgError(path, "cannot read .npy file (missing or unreadable)")
        }
        return try decode([UInt8](data), place: path)
    }

    public static func decode(_ bytes: [UInt8], place: String = "<npy>") throws -> Tensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw SamdgError(place, "not a .npy file: expected the magic \\x93NUMPY at byte 0")
        }
        let major = bytes[6]
        let headerLen: Int, headerStart: Int
        switch major {
        case 1:
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw SamdgError(place, "truncated .npy header (version \(major))") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw SamdgError(place, "unsupported .npy version \(major).\(bytes[7]); expected 1, 2 or 3")
        }
        guard headerStart + headerLen <= bytes.count else {
            throw SamdgError(place, "truncated .npy header: needs \(headerLen) bytes, file has \(bytes.count - headerStart)")
        }
        let headerBytes = bytes[headerStart..<(headerStart + headerLen)]
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw SamdgError(place, "header is not text")
        }
        let dict = try parseHeader(header, place: place)
        guard let descr = dict["descr"] else { throw SamdgError(place, "header has no 'descr' key: \(header)") }
        guard let fortranText = dict["fortran_order"] else { throw SamdgError(place, "header has no 'fortran_order' key") }
        guard let shapeText = dict["shape"] else { throw SamdgError(place, "header has no 'shape' key") }
        let fortran: Bool
        switch fortranText {
        case "True": fortran = true
        case "False": fortran = false
        default: throw SamdgError(place, "fortran_order must be True or False, got \(fortranText)")
        }
        let shape = try parseShape(shapeText, place: place)
        let (dtype, bigEndian) = try parseDescr(descr, place: place)
        let count = ShapeMath.count(shape)
        let dataStart = headerStart + headerLen
        let need = count * dtype.size
        guard bytes.count - dataStart >= need else {
            throw SamdgError(place, "truncated data: shape \(ShapeMath.describe(shape)) of \(descr) needs \(need) bytes, file has \(bytes.count - dataStart)")
        }
        var t = Tensor(zeros: shape, dtype: dtype)
        bytes.withUnsafeBufferPointer { src in
            t.storage.raw.copyMemory(from: src.baseAddress! + dataStart, byteCount: need)
        }
        if bigEndian && dtype.size > 1 { swapBytes(t) }
        if dtype == .bool {
            let b = t.buffer(UInt8.self)
            for i in 0..<count where b[i] > 1 {
                throw SamdgError(place, "bool array holds byte \(b[i]) at element \(i); expected 0 or 1")
            }
        }
        if fortran && shape.count > 1 { t = fortranToC(t) }
        return t
    }

    public static func write(_ t: Tensor, to path: String) throws {
        try AtomicFile.write(Data(encode(t)), to: path)
    }

    /// Version 1.0 when the header fits in 65535 bytes (always here), C order, little-endian.
    public static func encode(_ t: Tensor) -> [UInt8] {
        let descr: String
        switch t.dtype {
        case .float32: descr = "<f4"
        case .float64: descr = "<f8"
        case .int64: descr = "<i8"
        case .uint8: descr = "|u1"
        case .bool: descr = "|b1"
        }
        let shapeText = t.shape.isEmpty ? "()" : (t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0]
        let hl = header.utf8.count
        out += [UInt8(hl & 0xff), UInt8(hl >> 8)]
        out += Array(header.utf8)
        let n = t.count * t.dtype.size
        out += UnsafeRawBufferPointer(start: t.storage.raw, count: n)
        return out
    }

    // MARK: header parsing

    /// Parses the Python dict literal `{'key': value, ...}` into raw value strings.
    static func parseHeader(_ text: String, place: String) throws -> [String: String] {
        let s = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard s.hasPrefix("{"), s.hasSuffix("}") else { throw SamdgError(place, "header is not a dict literal: \(s)") }
        var body = Substring(s.dropFirst().dropLast())
        var out: [String: String] = [:]
        while true {
            body = body.drop(while: { $0 == " " || $0 == "," || $0 == "\n" })
            if body.isEmpty { break }
            guard let q = body.first, q == "'" || q == "\"" else { throw SamdgError(place, "bad header key near: \(body.prefix(20))") }
            body = body.dropFirst()
            guard let end = body.firstIndex(of: q) else { throw SamdgError(place, "unterminated header key") }
            let key = String(body[..<end])
            body = body[body.index(after: end)...].drop(while: { $0 == " " })
            guard body.first == ":" else { throw SamdgError(place, "expected ':' after header key '\(key)'") }
            body = body.dropFirst().drop(while: { $0 == " " })
            var value = ""
            if let c = body.first, c == "'" || c == "\"" {
                body = body.dropFirst()
                guard let e = body.firstIndex(of: c) else { throw SamdgError(place, "unterminated value of '\(key)'") }
                value = String(body[..<e]); body = body[body.index(after: e)...]
            } else if body.first == "(" {
                guard let e = body.firstIndex(of: ")") else { throw SamdgError(place, "unterminated shape tuple") }
                value = String(body[...e]); body = body[body.index(after: e)...]
            } else {
                let e = body.firstIndex(where: { $0 == "," || $0 == "}" }) ?? body.endIndex
                value = String(body[..<e]).trimmingCharacters(in: .whitespaces); body = body[e...]
            }
            out[key] = value
        }
        return out
    }

    static func parseShape(_ text: String, place: String) throws -> [Int] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        if inner.isEmpty { return [] }
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if p.isEmpty { continue }
            guard let d = Int(p), d >= 0 else { throw SamdgError(place, "bad dimension '\(p)' in shape \(text)") }
            dims.append(d)
        }
        return dims
    }

    static func parseDescr(_ d: String, place: String) throws -> (DType, Bool) {
        guard d.count >= 2 else { throw SamdgError(place, "bad descr '\(d)'") }
        let order = d.first!
        let code = String(d.dropFirst())
        let big = order == ">"
        guard "<>|=".contains(order) else { throw SamdgError(place, "bad byte order in descr '\(d)'") }
        switch code {
        case "f4": return (.float32, big)
        case "f8": return (.float64, big)
        case "i8": return (.int64, big)
        case "u1": return (.uint8, false)
        case "b1": return (.bool, false)
        default:
            throw SamdgError(place, "unsupported dtype '\(d)'; expected one of <f4 <f8 <i8 |u1 |b1")
        }
    }

    static func swapBytes(_ t: Tensor) {
        let n = t.dtype.size
        let p = t.storage.raw.assumingMemoryBound(to: UInt8.self)
        for i in 0..<t.count {
            var lo = i * n, hi = i * n + n - 1
            while lo < hi { let x = p[lo]; p[lo] = p[hi]; p[hi] = x; lo += 1; hi -= 1 }
        }
    }

    /// Reorders a Fortran-order (column-major) buffer into C order.
    static func fortranToC(_ t: Tensor) -> Tensor {
        let out = Tensor(zeros: t.shape, dtype: t.dtype)
        let shape = t.shape, r = shape.count, n = t.count, size = t.dtype.size
        var fstr = [Int](repeating: 1, count: r)
        for i in 1..<r { fstr[i] = fstr[i - 1] * shape[i - 1] }
        var idx = [Int](repeating: 0, count: r)
        let src = t.storage.raw, dst = out.storage.raw
        for lin in 0..<n {
            var off = 0
            for k in 0..<r { off += idx[k] * fstr[k] }
            (dst + lin * size).copyMemory(from: src + off * size, byteCount: size)
            var k = r - 1
            while k >= 0 { idx[k] += 1; if idx[k] < shape[k] { break }; idx[k] = 0; k -= 1 }
        }
        return out
    }
}
