import Primitives
import Tensor

/// max_pool2d (floor mode, implicit −∞ padding; the first maximum of a window wins, as in
/// PyTorch) and adaptive_avg_pool2d (bins [⌊i·In/Out⌋, ⌈(i+1)·In/Out⌉)).
public enum PoolKernels {
    public static func maxPool(_ x: Tensor, _ p: PoolGeometry, _ y: Tensor) {
        forEachWindow(x, p, y) { plane, oy, ox, arg in
            y.ptr[plane * y.shape[2] * y.shape[3] + oy * y.shape[3] + ox] = arg < 0 ? -.infinity : x.ptr[plane * x.shape[2] * x.shape[3] + arg]
        }
    }

    public static func maxPoolBackward(_ x: Tensor, _ dy: Tensor, _ p: PoolGeometry, _ dx: Tensor) {
        dx.ptr.update(repeating: 0, count: dx.count)
        forEachWindow(x, p, dy) { plane, oy, ox, arg in
            if arg >= 0 {
                dx.ptr[plane * x.shape[2] * x.shape[3] + arg] += dy.ptr[plane * dy.shape[2] * dy.shape[3] + oy * dy.shape[3] + ox]
            }
        }
    }

    /// Calls body(plane, oy, ox, argmax index within the plane or −1) for every output cell;
    /// planes are split over threads (each plane is touched by one thread only).
    static func forEachWindow(_ x: Tensor, _ p: PoolGeometry, _ y: Tensor, _ body: (Int, Int, Int, Int) -> Void) {
        let (h, w) = (x.shape[2], x.shape[3])
        let (oh, ow) = (y.shape[2], y.shape[3])
        Parallel.forChunks(x.shape[0] * x.shape[1], grain: 1) { range in
            for plane in range {
                let src = x.ptr + plane * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -Float.infinity, arg = -1
                        for i in 0..<p.kernel {
                            let iy = oy * p.stride - p.padding + i
                            if iy < 0 || iy >= h { continue }
                            for j in 0..<p.kernel {
                                let ix = ox * p.stride - p.padding + j
                                if ix < 0 || ix >= w { continue }
                                let v = src[iy * w + ix]
                                if v > best || v.isNaN || arg < 0 { best = v; arg = iy * w + ix; if v.isNaN { break } }
                            }
                        }
                        body(plane, oy, ox, arg)
                    }
                }
            }
        }
    }

    static func bins(_ inSize: Int, _ outSize: Int) -> [(Int, Int)] {
        (0..<outSize).map { i in (i * inSize / outSize, ((i + 1) * inSize + outSize - 1) / outSize) }
    }

    public static func adaptiveAvg(_ x: Tensor, _ y: Tensor) {
        let (h, w, oh, ow) = (x.shape[2], x.shape[3], y.shape[2], y.shape[3])
        let bh = bins(h, oh), bw = bins(w, ow)
        for plane in 0..<(x.shape[0] * x.shape[1]) {
            let src = x.ptr + plane * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var s: Float = 0
                    for iy in bh[oy].0..<bh[oy].1 { for ix in bw[ox].0..<bw[ox].1 { s += src[iy * w + ix] } }
                    y.ptr[plane * oh * ow + oy * ow + ox] = s / Float((bh[oy].1 - bh[oy].0) * (bw[ox].1 - bw[ox].0))
                }
            }
        }
    }

    public static func adaptiveAvgBackward(_ dy: Tensor, _ dx: Tensor) {
        let (h, w, oh, ow) = (dx.shape[2], dx.shape[3], dy.shape[2], dy.shape[3])
        let bh = bins(h, oh), bw = bins(w, ow)
        dx.ptr.update(repeating: 0, count: dx.count)
        for plane in 0..<(dx.shape[0] * dx.shape[1]) {
            let dst = dx.ptr + plane * h * w
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let g = dy.ptr[plane * oh * ow + oy * ow + ox] / Float((bh[oy].1 - bh[oy].0) * (bw[ox].1 - bw[ox].0))
                    for iy in bh[oy].0..<bh[oy].1 { for ix in bw[ox].0..<bw[ox].1 { dst[iy * w + ix] += g } }
                }
            }
        }
    }
}
