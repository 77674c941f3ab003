import CSIMD
import Tensor

/// Strided copies: every layout op (permute, slice, broadcast, pad, concat, slice-backward) is a
/// copy between a strided view and a contiguous block.
public enum Strided {
    /// dst[contiguous over `shape`] = src[offset + Σ iₖ·srcStrides[k]]
    public static func gather(_ src: UnsafePointer<Float>, offset: Int, strides: [Int], shape: [Int],
                              into dst: UnsafeMutablePointer<Float>) {
        let c = collapse(shape: shape, strides: [strides, ShapeMath.strides(shape)])
        if transposed(src + offset, c.shape, c.strides[0], dst) { return }
        walk(c.shape, c.strides[0], c.strides[1]) { s, d, n, si, di in
            let from = src + offset + s, to = dst + d
            if si == 1 && di == 1 { copy(from, to, n) }
            else if si == 2 && di == 1 { evenLanes(from, to, n) }
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
            else if si == 1 && di == 1 { copy(from, to, n) }
            else { for i in 0..<n { to[i * di] = from[i * si] } }
        }
    }

    /// A contiguous run: short runs (under 64 floats) in SIMD16 moves, as a `memmove` call per
    /// run costs more than the copy; runs of 64 and more (a ViT-B head row) by `memmove`, which
    /// measured 2× faster on the qkv permute [2, 0, 3, 1, 4] than the SIMD16 loop.
    @inline(__always) static func copy(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 64 { to.update(from: from, count: n); return }
        var i = 0
        while i + 16 <= n { store16(load16(from + i), to + i); i += 16 }
        while i < n { to[i] = from[i]; i += 1 }
    }

    /// to[i] = from[2i] (space-to-depth rows of stride-2 convolutions), 16 at a time from 32-lane
    /// loads; the vector loop stops one block early so it never reads past from[2(n − 1)].
    @inline(__always) static func evenLanes(_ from: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 < n {
            store16(UnsafeRawPointer(from + 2 * i).loadUnaligned(as: SIMD32<Float>.self).evenHalf, to + i)
            i += 16
        }
        while i < n { to[i] = from[2 * i]; i += 1 }
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
        let d = outer.count
        Parallel.forChunks(rows, grain: max(1, (1 << 15) / inner)) { range in
            // the chunk's first row by division, then an odometer over the outer index
            withUnsafeTemporaryAllocation(of: Int.self, capacity: max(d, 1)) { idx in
                var oa = 0, ob = 0, rem = range.lowerBound
                for k in stride(from: d - 1, through: 0, by: -1) {
                    idx[k] = rem % outer[k]; rem /= outer[k]
                    oa += idx[k] * sa[k]; ob += idx[k] * sb[k]
                }
                for _ in range {
                    body(oa, ob, inner, sa[r - 1], sb[r - 1])
                    var k = d - 1
                    while k >= 0 {
                        idx[k] += 1; oa += sa[k]; ob += sb[k]
                        if idx[k] < outer[k] { break }
                        oa -= idx[k] * sa[k]; ob -= idx[k] * sb[k]; idx[k] = 0
                        k -= 1
                    }
                }
            }
        }
    }

    /// Tiled path of `gather` for a contiguous destination whose innermost run is strided in the
    /// source while another axis `p` is contiguous there (permute [0, 2, 1], space-to-depth's
    /// inverse) when p has at least 16 entries: a 2-D transpose per index of the remaining axes,
    /// in strips of 16 entries of p (256 when the innermost axis is shorter than 16), swept
    /// along the innermost axis in tiles of 16, so that every cache line touched inside a tile
    /// is used whole while the tile sits in L1. Inside a tile one side is walked line by line and
    /// the other revisited: the revisited side is the source unless the destination's stride
    /// along p is a multiple of 4 KiB (then all its rows fall into one L1 set and would evict
    /// each other). Whole 16×16 tiles go through a register transpose (four rounds of two-source
    /// shuffles) instead: 16 vector loads and 16 vector stores. Returns false when the pattern
    /// does not fit.
    static func transposed(_ src: UnsafePointer<Float>, _ shape: [Int], _ ss: [Int],
                           _ dst: UnsafeMutablePointer<Float>) -> Bool {
        let r = shape.count
        guard r >= 2, ss[r - 1] > 1, let p = ss.indices.last(where: { $0 < r - 1 && ss[$0] == 1 }),
              shape[p] >= 16 else { return false }   // a short p: the strided inner runs are better
        let ds = ShapeMath.strides(shape)
        let rows = shape[p], cols = shape[r - 1], sl = ss[r - 1], dp = ds[p]
        let others = (0..<(r - 1)).filter { $0 != p }
        let outerCount = others.reduce(1) { $0 * shape[$1] }
        let ti = cols < 16 ? 256 : 16, tj = 16
        let writeRows = dp % 1024 == 0 && sl % 1024 != 0
        let rowTiles = (rows + ti - 1) / ti
        Parallel.forChunks(outerCount * rowTiles, grain: max(1, (1 << 14) / (ti * cols))) { range in
            for task in range {
                var rem = task / rowTiles
                var os = 0, od = 0
                for k in others.reversed() {
                    let i = rem % shape[k]; rem /= shape[k]
                    os += i * ss[k]; od += i * ds[k]
                }
                let i0 = (task % rowTiles) * ti, i1 = min(rows, i0 + ti)
                let s0 = src + os, d0 = dst + od
                var j0 = 0
                while j0 < cols {
                    let j1 = min(cols, j0 + tj)
                    if i1 - i0 == 16 && j1 - j0 == 16 {
                        // a whole 16×16 tile: through registers (`samdg_transpose16_copy`)
                        samdg_transpose16_copy(s0 + i0 + j0 * sl, sl, d0 + i0 * dp + j0, dp)
                    } else if writeRows {
                        for i in i0..<i1 {
                            let from = s0 + i, to = d0 + i * dp
                            for j in j0..<j1 { to[j] = from[j * sl] }
                        }
                    } else {
                        for j in j0..<j1 {
                            let from = s0 + j * sl, to = d0 + j
                            for i in i0..<i1 { to[i * dp] = from[i] }
                        }
                    }
                    j0 = j1
                }
            }
        }
        return true
    }
}
