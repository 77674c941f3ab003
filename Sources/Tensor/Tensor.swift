/// A dense, contiguous, row-major tensor. Value semantics are not implied: `Tensor` is a
/// reference to its storage, like a PyTorch tensor; `copy()` makes an independent one.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let dtype: DType
    public let shape: [Int]
    public let storage: Storage

    public var count: Int { ShapeMath.count(shape) }
    public var rank: Int { shape.count }

    /// A zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .float32) {
        self.dtype = dtype
        self.shape = shape
        storage = Storage(byteCount: ShapeMath.count(shape) * dtype.size)
    }

    /// A tensor whose contents are unspecified until written (kernel outputs).
    public init(uninitialized shape: [Int], dtype: DType = .float32) {
        self.dtype = dtype
        self.shape = shape
        storage = Storage(byteCount: ShapeMath.count(shape) * dtype.size, zeroed: false)
    }

    public init(shape: [Int], dtype: DType, storage: Storage) {
        precondition(storage.byteCount >= ShapeMath.count(shape) * dtype.size, "storage too small")
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// float32 tensor from values (row-major).
    public init(shape: [Int], _ values: [Float]) {
        precondition(values.count == ShapeMath.count(shape),
                     "Tensor(shape: \(ShapeMath.describe(shape))) needs \(ShapeMath.count(shape)) values, got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            floats.baseAddress!.update(from: src.baseAddress!, count: values.count)
        }
    }

    /// A float32 scalar.
    public init(scalar: Float) { self.init(shape: [], [scalar]) }

    public var floats: UnsafeMutableBufferPointer<Float> {
        precondition(dtype == .float32, "floats of a \(dtype) tensor")
        return UnsafeMutableBufferPointer(start: storage.raw.assumingMemoryBound(to: Float.self), count: count)
    }

    public func buffer<T>(_ type: T.Type) -> UnsafeMutableBufferPointer<T> {
        precondition(MemoryLayout<T>.stride == dtype.size, "\(T.self) view of a \(dtype) tensor")
        return UnsafeMutableBufferPointer(start: storage.raw.assumingMemoryBound(to: T.self), count: count)
    }

    /// Values as Float whatever the dtype (bool/uint8 as 0/1…, int64 and float64 converted).
    public var scalars: [Float] {
        switch dtype {
        case .float32: return Array(floats)
        case .float64: return buffer(Double.self).map { Float($0) }
        case .int64: return buffer(Int64.self).map { Float($0) }
        case .uint8, .bool: return buffer(UInt8.self).map { Float($0) }
        }
    }

    /// Values as Double whatever the dtype.
    public var doubles: [Double] {
        switch dtype {
        case .float64: return Array(buffer(Double.self))
        default: return scalars.map(Double.init)
        }
    }

    /// This tensor converted to float32 (a copy; the same storage when already float32).
    public func toFloat32() -> Tensor {
        if dtype == .float32 { return self }
        return Tensor(shape: shape, scalars)
    }

    /// An independent copy.
    public func copy() -> Tensor {
        let t = Tensor(zeros: shape, dtype: dtype)
        t.storage.raw.copyMemory(from: storage.raw, byteCount: count * dtype.size)
        return t
    }

    /// The same storage seen with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(ShapeMath.count(newShape) == count,
                     "reshape \(ShapeMath.describe(shape)) to \(ShapeMath.describe(newShape))")
        return Tensor(shape: newShape, dtype: dtype, storage: storage)
    }

    public var description: String {
        let vals = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(dtype)>\(ShapeMath.describe(shape)) [\(vals)\(count > 8 ? ", …" : "")]"
    }
}

/// Relative L2 error ‖a − b‖₂ / ‖b‖₂ (0 when both are zero), the goldens' metric.
public func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    if den == 0 { return num == 0 ? 0 : Double.infinity }
    return (num / den).squareRoot()
}
