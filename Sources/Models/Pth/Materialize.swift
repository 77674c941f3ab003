import Tensor

/// Copies a strided view out of raw storage bytes into a new contiguous tensor.
///
/// A torch tensor is `(storage, offset, size, stride)`: element `(i₀, …, iₙ)` lives at storage
/// element `offset + Σ iₖ·strideₖ`. Views (transposes, slices) therefore need a gather; a
/// contiguous float32 tensor in a little-endian file is a single copy.
///
/// `bytes` is the storage's whole byte buffer (a zip entry or a legacy record); the storage
/// itself may start `storage.elementOffset` elements into it (legacy storage views).
func materialize(_ t: TensorRef, bytes: [UInt8], littleEndian: Bool, place: String) throws -> PthTensor {
    let s = t.storage
    let what = "tensor on storage '\(s.key)' (\(s.storageClass), size \(ShapeMath.describe(t.size)), stride \(ShapeMath.describe(t.stride)), offset \(t.offset))"
    guard t.size.count == t.stride.count else {
        throw SamdgError(place, "\(what): size has \(t.size.count) dims but stride has \(t.stride.count)")
    }
    guard t.size.allSatisfy({ $0 >= 0 }), t.stride.allSatisfy({ $0 >= 0 }), t.offset >= 0 else {
        throw SamdgError(place, "\(what): negative size, stride or offset")
    }
    // Storage byte window [start, start + length) inside `bytes`.
    let (start, o1) = s.elementOffset.multipliedReportingOverflow(by: s.dtype.size)
    let (length, o2) = s.numel.multipliedReportingOverflow(by: s.dtype.size)
    guard !o1, !o2, start <= bytes.count, length <= bytes.count - start else {
        throw SamdgError(place, "storage '\(s.key)' holds \(bytes.count) bytes; the pickle declares \(s.numel) elements of \(s.storageClass) (\(s.dtype.size) bytes each) from element \(s.elementOffset)")
    }
    var count = 1
    for d in t.size {
        let (c, o) = count.multipliedReportingOverflow(by: d)
        guard !o else { throw SamdgError(place, "\(what): element count overflows") }
        count = c
    }
    if count == 0 {
        return PthTensor(tensor: Tensor(zeros: t.size, dtype: t.dtype.loadedAs), sourceDType: t.dtype, requiresGrad: t.requiresGrad)
    }

    // Highest element touched must lie inside the storage (counted in the tensor's dtype).
    var last = t.offset
    for (d, st) in zip(t.size, t.stride) {
        let (span, o) = (d - 1).multipliedReportingOverflow(by: st)
        let (sum, o2) = last.addingReportingOverflow(span)
        guard !o, !o2 else { throw SamdgError(place, "\(what): index overflows") }
        last = sum
    }
    let available = length / t.dtype.size
    guard last < available else {
        throw SamdgError(place, "\(what) reaches element \(last), but the storage has only \(available) elements of \(t.dtype)")
    }
    // Only zero or overlapping strides (an `expand`ed tensor) give more elements than the
    // storage holds; cap those so a hostile size cannot ask for terabytes.
    guard count <= available || count <= maxExpandedElements else {
        throw SamdgError(place, "\(what) has \(count) elements from a storage of \(available); expected at most \(maxExpandedElements) for a broadcast view")
    }
    let out = Tensor(zeros: t.size, dtype: t.dtype.loadedAs)
    let result = PthTensor(tensor: out, sourceDType: t.dtype, requiresGrad: t.requiresGrad)

    bytes.withUnsafeBytes { raw in
        guard let origin = raw.baseAddress else { return }
        let base = origin + start
        switch t.dtype {
        case .float32:
            let dst = out.storage.raw.assumingMemoryBound(to: Float.self)
            if littleEndian, isContiguous(t) {
                UnsafeMutableRawPointer(dst).copyMemory(from: base + t.offset * 4, byteCount: count * 4)
            } else {
                gather(t, into: dst, elementSize: 4, from: base) { p in
                    let b = p.loadUnaligned(as: UInt32.self)
                    return Float(bitPattern: littleEndian ? UInt32(littleEndian: b) : UInt32(bigEndian: b))
                }
            }
        case .float64:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Double.self), elementSize: 8, from: base) { p in
                let b = p.loadUnaligned(as: UInt64.self)
                return Double(bitPattern: littleEndian ? UInt64(littleEndian: b) : UInt64(bigEndian: b))
            }
        case .float16, .bfloat16:
            let half = t.dtype == .float16
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Float.self), elementSize: 2, from: base) { p in
                let raw = p.loadUnaligned(as: UInt16.self)
                let b = littleEndian ? UInt16(littleEndian: raw) : UInt16(bigEndian: raw)
                return half ? halfToFloat(b) : bfloat16ToFloat(b)
            }
        case .int64:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Int64.self), elementSize: 8, from: base) { p in
                let b = p.loadUnaligned(as: Int64.self)
                return littleEndian ? Int64(littleEndian: b) : Int64(bigEndian: b)
            }
        case .int32:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Int64.self), elementSize: 4, from: base) { p in
                let b = p.loadUnaligned(as: Int32.self)
                return Int64(littleEndian ? Int32(littleEndian: b) : Int32(bigEndian: b))
            }
        case .int16:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Int64.self), elementSize: 2, from: base) { p in
                let b = p.loadUnaligned(as: Int16.self)
                return Int64(littleEndian ? Int16(littleEndian: b) : Int16(bigEndian: b))
            }
        case .int8:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: Int64.self), elementSize: 1, from: base) { p in
                Int64(p.load(as: Int8.self))
            }
        case .uint8:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: UInt8.self), elementSize: 1, from: base) { p in p.load(as: UInt8.self) }
        case .bool:
            gather(t, into: out.storage.raw.assumingMemoryBound(to: UInt8.self), elementSize: 1, from: base) { p in
                p.load(as: UInt8.self) != 0 ? 1 : 0
            }
        }
    }
    return result
}

/// Largest element count of a view that repeats storage elements (stride 0).
let maxExpandedElements = 1 << 28

private func isContiguous(_ t: TensorRef) -> Bool {
    var expected = 1
    for (d, st) in zip(t.size, t.stride).reversed() where d != 1 {
        if st != expected { return false }
        expected *= d
    }
    return true
}

/// Visits the view's elements in row-major order (innermost axis as a strided run) and writes
/// `read(element address)` to consecutive destination slots. Bounds were checked by the caller.
@inline(__always)
private func gather<T>(_ t: TensorRef, into dst: UnsafeMutablePointer<T>, elementSize: Int,
                       from base: UnsafeRawPointer, _ read: (UnsafeRawPointer) -> T) {
    let rank = t.size.count
    let inner = rank > 0 ? t.size[rank - 1] : 1
    let innerStride = rank > 0 ? t.stride[rank - 1] : 0
    let outer = ShapeMath.count(t.size) / max(inner, 1)
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    var rowStart = t.offset
    var o = 0
    for _ in 0..<outer {
        var e = rowStart
        for _ in 0..<inner {
            dst[o] = read(base + e * elementSize)
            o += 1
            e += innerStride
        }
        // advance the outer multi-index like an odometer
        var d = rank - 2
        while d >= 0 {
            index[d] += 1
            rowStart += t.stride[d]
            if index[d] < t.size[d] { break }
            rowStart -= t.stride[d] * t.size[d]
            index[d] = 0
            d -= 1
        }
    }
}
