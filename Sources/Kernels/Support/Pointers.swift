import Tensor

/// Unsafe float pointer helpers shared by the kernels.
extension Tensor {
    @inline(__always) public var ptr: UnsafeMutablePointer<Float> { storage.raw.assumingMemoryBound(to: Float.self) }
}

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Merges adjacent axes that are contiguous in every operand's strides, so kernels loop over as
/// few (and as long) runs as possible. `strides[k]` holds operand k's strides.
func collapse(shape: [Int], strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
    var s: [Int] = []
    var st = strides.map { _ in [Int]() }
    for i in 0..<shape.count where shape[i] != 1 {
        if let last = s.last, strides.indices.allSatisfy({ st[$0].last! == strides[$0][i] * shape[i] }) {
            s[s.count - 1] = last * shape[i]
            for k in strides.indices { st[k][st[k].count - 1] = strides[k][i] }
        } else {
            s.append(shape[i])
            for k in strides.indices { st[k].append(strides[k][i]) }
        }
    }
    if s.isEmpty { return ([1], strides.map { _ in [1] }) }
    return (s, st)
}

/// Strides of `shape` seen from a broadcast result of rank `rank` (0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to out: [Int]) -> [Int] {
    let st = ShapeMath.strides(shape)
    let lead = out.count - shape.count
    return (0..<out.count).map { i in
        i < lead ? 0 : (shape[i - lead] == 1 && out[i] != 1 ? 0 : st[i - lead])
    }
}
