import Tensor

/// Strided copies: every layout op (permute, slice, broadcast, pad, concat, slice-backward) is a
/// copy between a strided view and a contiguous block.
public enum Strided {
    /// dst[contiguous over `shape`] = src[offset + Σ iₖ·srcStrides[k]]
    public static func gather(_ src: UnsafePointer<Float>, offset: Int, strides: [Int], shape: [Int],
                              into dst: UnsafeMutablePointer<Float>) {
        let c = collapse(shape: shape, strides: [strides, ShapeMath.strides(shape)])
        walk(c.shape, c.strides[0], c.strides[1]) { s, d, n, si, di in
            let from = src + offset + s, to = dst + d
            if si == 1 && di == 1 { to.update(from: from, count: n) }
            else if si == 0 { let v = from[0]; for i in 0..<n { to[i * di] = v } }
            else { for i in 0..<n { to[i * di] = from[i * si] } }
        }
    }

    /// dst[offset + Σ iₖ·dstStrides[k]] (op)= src[contiguous over `shape`]
    public static func scatter(_ src: UnsafePointer<Float>, shape: [Int], into dst: UnsafeMutablePointer<Float>,
                               offset: Int, strides: [Int], accumulate: Bool = false) {
        let c = collapse(shape: shape, strides: [ShapeMath.strides(shape), strides])
        walk(c.shape, c.strides[0], c.strides[1]) { s, d, n, si, di in
            let from = src + s, to = dst + offset + d
            if accumulate { for i in 0..<n { to[i * di] += from[i * si] } }
            else if si == 1 && di == 1 { to.update(from: from, count: n) }
            else { for i in 0..<n { to[i * di] = from[i * si] } }
        }
    }

    /// Calls `body(srcOffset, dstOffset, innerCount, srcInnerStride, dstInnerStride)` for every
    /// innermost run, splitting the outer runs over the worker threads.
    static func walk(_ shape: [Int], _ sa: [Int], _ sb: [Int],
                     _ body: (Int, Int, Int, Int, Int) -> Void) {
        let r = shape.count
        let inner = shape[r - 1]
        let rows = ShapeMath.count(shape) / max(inner, 1)
        if inner == 0 || rows == 0 { return }
        let outer = Array(shape.dropLast())
        Parallel.forChunks(rows, grain: max(1, (1 << 15) / inner)) { range in
            for row in range {
                var oa = 0, ob = 0, rem = row
                for k in stride(from: outer.count - 1, through: 0, by: -1) {
                    let i = rem % outer[k]; rem /= outer[k]
                    oa += i * sa[k]; ob += i * sb[k]
                }
                body(oa, ob, inner, sa[r - 1], sb[r - 1])
            }
        }
    }
}
