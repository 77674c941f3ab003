import Tensor

// Copies a tensor's values out while the tensor is guaranteed alive (a parameter lives for the
// whole call). `Array(t.buffer(…))` on a temporary or on a local at its last use may read storage
// that an optimised build has already released.

func bytes(_ t: Tensor) -> [UInt8] { Array(t.buffer(UInt8.self)) }
func int64s(_ t: Tensor) -> [Int64] { Array(t.buffer(Int64.self)) }
func floats(_ t: Tensor) -> [Float] { Array(t.floats) }

/// A uint8 tensor from values.
func uint8Tensor(_ shape: [Int], _ v: [UInt8]) -> Tensor {
    let t = Tensor(zeros: shape, dtype: .uint8)
    let b = t.buffer(UInt8.self)
    for (i, x) in v.enumerated() { b[i] = x }
    return t
}

/// An int64 tensor from values.
func int64Tensor(_ shape: [Int], _ v: [Int64]) -> Tensor {
    let t = Tensor(zeros: shape, dtype: .int64)
    let b = t.buffer(Int64.self)
    for (i, x) in v.enumerated() { b[i] = x }
    return t
}
