import Foundation
import Primitives
import Tensor

/// Dilated convolutions by output regions that share their valid taps.
///
/// With a large dilation on a small map (DeepLabV3's ASPP: dilation 12 and 24 on R18's 32×32
/// map, 36 on R50's 64×64), most of im2col's columns are taps that fall in the zero padding: at
/// dilation 24 on 32×32 a kernel row's ±24 taps are inside the image for only 8 of 32 output
/// rows, so 75% of im2col's multiply-adds multiply zeros. (Taps dead for every output are
/// already removed from the graph by `dead-taps`; these are dead for most outputs.)
///
/// Algorithm (stride 1, one group): along each axis, tap i reads input row y − p + i·d, inside
/// the image for y in [p − i·d, H + p − i·d) — an interval, so the output rows split into bands
/// whose set of valid taps is one contiguous range of kernel rows (likewise columns). For each
/// band pair (a rectangle of outputs) and each valid kernel row i, the rectangle's input
/// patches for kernel row i and the valid kernel columns are gathered for every image as a
/// column matrix [(j, c) × N·pixels], and one sgemm with the weight's columns for those taps
/// (the weight reordered once to [K][kh·kw][C], so they are adjacent) accumulates into the
/// rectangle's result, which is then scattered into y. Multiply-adds: exactly the valid ones
/// (`validFraction` of im2col's).
/// - input gradient: the same forward on dy with the kernel rotated 180° and transposed
///   (padding d(k−1) − p);
/// - weight gradient: per rectangle and valid kernel row, dW[taps] += dY_rect · patchesᵀ,
///   accumulated in a fixed order over rectangles.
/// Every product runs through `Gemm.sgemm` (split over the cores); gathers and scatters are
/// split over channels.
public enum TapRegions {
    /// Output positions [lo, hi) along one axis and the kernel taps [first, first + count) whose
    /// input position is inside the image for all of them.
    public struct Band: Equatable, Sendable {
        public let lo, hi, first, count: Int
        public init(lo: Int, hi: Int, first: Int, count: Int) { self.lo = lo; self.hi = hi; self.first = first; self.count = count }
    }

    /// Bands of one axis: output extent `out`, input extent `inp`, kernel extent `k`.
    public static func bands(out: Int, inp: Int, k: Int, pad: Int, dilation d: Int) -> [Band] {
        var cuts = Set([0, out])
        for i in 0..<k {
            for e in [pad - i * d, inp + pad - i * d] where e > 0 && e < out { cuts.insert(e) }
        }
        let points = cuts.sorted()
        var out: [Band] = []
        for (lo, hi) in zip(points, points.dropFirst()) where hi > lo {
            let valid = (0..<k).filter { i in lo - pad + i * d >= 0 && lo - pad + i * d < inp }
            out.append(Band(lo: lo, hi: hi, first: valid.first ?? 0, count: valid.count))
        }
        return out
    }

    /// The share of im2col's multiply-adds that read inside the image.
    public static func validFraction(x: [Int], w: [Int], y: [Int], _ g: ConvGeometry) -> Double {
        let by = bands(out: y[2], inp: x[2], k: w[2], pad: g.padH, dilation: g.dilationH)
        let bx = bands(out: y[3], inp: x[3], k: w[3], pad: g.padW, dilation: g.dilationW)
        let vy = by.reduce(0) { $0 + $1.count * ($1.hi - $1.lo) }, vx = bx.reduce(0) { $0 + $1.count * ($1.hi - $1.lo) }
        return Double(vy * vx) / Double(max(1, w[2] * y[2] * w[3] * y[3]))
    }

    /// Whether this (stride-1, ungrouped, dilated) convolution goes by regions, given whether
    /// Winograd would take it. Cost model, in im2col's time: im2col 1; regions the valid share
    /// f plus 5% for the extra gathers; Winograd 4/9 of the multiplies over tiles of which only
    /// `occupancy` lie inside the output, plus 30% for its transforms (measured on the R18 step:
    /// dilation 12 on 32×32, occupancy 0.64, ran about as fast as im2col; regions take it at
    /// f = 0.56). Regions when they are the cheapest and f < 0.9.
    public static func suits(x: [Int], w: [Int], y: [Int], _ g: ConvGeometry, winograd: Bool) -> Bool {
        guard enabled, x.count == 4, w.count == 4, y.count == 4, g.groups == 1, g.strideH == 1, g.strideW == 1,
              w[2] * w[3] > 1, max(g.dilationH, g.dilationW) > 1 else { return false }
        let regions = 1.05 * validFraction(x: x, w: w, y: y, g)
        let wino = winograd ? 1.3 * (4.0 / 9) / max(Winograd.occupancy(y: y, dilation: g.dilationH), 1e-9) : .infinity
        return regions < 0.95 && regions < wino
    }

    /// `SAMDG_TAP_REGIONS=0` turns the regions off (im2col or Winograd instead).
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["SAMDG_TAP_REGIONS"] != "0"

    /// y = conv(x, w) (stride 1, one group, padding and dilation per axis from `g`); with
    /// `flipped`, w is [C, K, kh, kw] and the convolution uses it rotated 180° and transposed
    /// (the input gradient's kernel, never materialised).
    public static func forward(x: Tensor, w: Tensor, _ g: ConvGeometry, y: Tensor, flipped: Bool = false) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, kh, kw, oh, ow) = (y.shape[1], w.shape[2], w.shape[3], y.shape[2], y.shape[3])
        let taps = kh * kw
        // the weight as [K][taps][C]: the columns of adjacent taps adjacent
        let wr = UnsafeMutablePointer<Float>.allocate(capacity: k * taps * c)
        defer { wr.deallocate() }
        Parallel.forChunks(k, grain: 1) { r in
            for o in r {
                for ci in 0..<c {
                    for t in 0..<taps {
                        wr[(o * taps + t) * c + ci] = flipped ? w.ptr[(ci * k + o) * taps + taps - 1 - t] : w.ptr[(o * c + ci) * taps + t]
                    }
                }
            }
        }
        let by = bands(out: oh, inp: h, k: kh, pad: g.padH, dilation: g.dilationH)
        let bx = bands(out: ow, inp: wd, k: kw, pad: g.padW, dilation: g.dilationW)
        for ry in split(by, columnsPerRow: bx.map { $0.count * c * n * ($0.hi - $0.lo) }.max() ?? 1) {
            for rx in bx {
                let (rh, rw) = (ry.hi - ry.lo, rx.hi - rx.lo)
                let cols = n * rh * rw
                if ry.count == 0 || rx.count == 0 {
                    fill(y, ry, rx, k: k, oh: oh, ow: ow, zero: true, from: nil)
                    continue
                }
                Scratch.withBuffer(floats: rx.count * c * cols + k * cols) { buf in
                    let patches = buf, acc = buf + rx.count * c * cols
                    for (step, i) in (ry.first..<(ry.first + ry.count)).enumerated() {
                        gather(x, row: i, ry, rx, g, c: c, h: h, w: wd, into: patches)
                        Gemm.sgemm(transA: false, transB: false, m: k, n: cols, k: rx.count * c,
                                   a: wr + (i * kw + rx.first) * c, lda: taps * c, b: patches, ldb: cols,
                                   beta: step == 0 ? 0 : 1, c: acc, ldc: cols)
                    }
                    fill(y, ry, rx, k: k, oh: oh, ow: ow, zero: false, from: acc)
                }
            }
        }
    }

    /// dx = convᵀ(dy, w) at stride 1: the forward on dy with w rotated 180° and transposed.
    public static func backwardInput(dy: Tensor, w: Tensor, _ g: ConvGeometry, dx: Tensor) {
        forward(x: dy, w: w, transposedGeometry(g, kh: w.shape[2], kw: w.shape[3]), y: dx, flipped: true)
    }

    /// The geometry of the input gradient as a forward convolution (padding d(k−1) − p).
    static func transposedGeometry(_ g: ConvGeometry, kh: Int, kw: Int) -> ConvGeometry {
        ConvGeometry(strideH: 1, strideW: 1, padH: g.dilationH * (kh - 1) - g.padH, padW: g.dilationW * (kw - 1) - g.padW,
                     dilationH: g.dilationH, dilationW: g.dilationW, groups: 1)
    }

    /// dw = Σ dy · patchesᵀ over the valid taps (zero for taps valid nowhere).
    public static func backwardWeight(x: Tensor, dy: Tensor, _ g: ConvGeometry, dw: Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (k, kh, kw, oh, ow) = (dw.shape[0], dw.shape[2], dw.shape[3], dy.shape[2], dy.shape[3])
        let taps = kh * kw
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: k * taps * c)     // [K][taps][C]
        defer { acc.deallocate() }
        acc.initialize(repeating: 0, count: k * taps * c)
        let by = bands(out: oh, inp: h, k: kh, pad: g.padH, dilation: g.dilationH)
        let bx = bands(out: ow, inp: wd, k: kw, pad: g.padW, dilation: g.dilationW)
        for ry in split(by, columnsPerRow: bx.map { $0.count * c * n * ($0.hi - $0.lo) }.max() ?? 1) where ry.count > 0 {
            for rx in bx where rx.count > 0 {
                let cols = n * (ry.hi - ry.lo) * (rx.hi - rx.lo)
                Scratch.withBuffer(floats: rx.count * c * cols + k * cols) { buf in
                    let patches = buf, grad = buf + rx.count * c * cols
                    take(dy, ry, rx, k: k, oh: oh, ow: ow, into: grad)
                    for i in ry.first..<(ry.first + ry.count) {
                        gather(x, row: i, ry, rx, g, c: c, h: h, w: wd, into: patches)
                        Gemm.sgemm(transA: false, transB: true, m: k, n: rx.count * c, k: cols, a: grad, lda: cols,
                                   b: patches, ldb: cols, beta: 1, c: acc + (i * kw + rx.first) * c, ldc: taps * c)
                    }
                }
            }
        }
        Parallel.forChunks(k, grain: 1) { r in
            for o in r { for ci in 0..<c { for t in 0..<taps { dw.ptr[(o * c + ci) * taps + t] = acc[(o * taps + t) * c + ci] } } }
        }
    }

    /// Bands cut into runs of rows whose column matrices (`columnsPerRow` floats per output row,
    /// for the widest column band) stay within `maxFloats`, like im2col's row blocks.
    static func split(_ bands: [Band], columnsPerRow: Int) -> [Band] {
        let rows = max(1, maxFloats / max(1, columnsPerRow))
        return bands.flatMap { b in
            stride(from: b.lo, to: b.hi, by: rows).map { Band(lo: $0, hi: min(b.hi, $0 + rows), first: b.first, count: b.count) }
        }
    }

    /// Bound on one rectangle's column matrix (16 MiB; R50's ASPP then still multiplies
    /// 2048-channel patches by 640 columns at a time).
    static let maxFloats = 4 << 20

    /// The column matrix of kernel row i and the valid kernel columns of rectangle ry × rx:
    /// out[(j − rx.first)·C + ci, (img·rh + yy)·rw + xx] = x[img, ci, ry.lo + yy − p + i·d, rx.lo + xx − p + j·d].
    static func gather(_ x: Tensor, row i: Int, _ ry: Band, _ rx: Band, _ g: ConvGeometry, c: Int, h: Int, w: Int,
                       into out: UnsafeMutablePointer<Float>) {
        let n = x.shape[0], (rh, rw) = (ry.hi - ry.lo, rx.hi - rx.lo), cols = n * rh * rw
        let src = UnsafePointer(x.ptr)
        Parallel.forChunks(rx.count * c, grain: max(1, 4096 / max(1, cols))) { r in
            for row in r {
                let j = rx.first + row / c, ci = row % c
                let x0 = rx.lo - g.padW + j * g.dilationW
                for img in 0..<n {
                    for yy in 0..<rh {
                        let iy = ry.lo + yy - g.padH + i * g.dilationH
                        (out + row * cols + (img * rh + yy) * rw).update(from: src + ((img * c + ci) * h + iy) * w + x0, count: rw)
                    }
                }
            }
        }
    }

    /// Writes the rectangle's result [K × N·rh·rw] into y (or zeros when `zero`).
    static func fill(_ y: Tensor, _ ry: Band, _ rx: Band, k: Int, oh: Int, ow: Int, zero: Bool, from acc: UnsafePointer<Float>?) {
        let n = y.shape[0], (rh, rw) = (ry.hi - ry.lo, rx.hi - rx.lo), cols = n * rh * rw
        let dst = y.ptr
        Parallel.forChunks(k, grain: max(1, 4096 / max(1, cols))) { r in
            for o in r {
                for img in 0..<n {
                    for yy in 0..<rh {
                        let d = dst + ((img * k + o) * oh + ry.lo + yy) * ow + rx.lo
                        if zero { d.update(repeating: 0, count: rw) }
                        else { d.update(from: acc! + o * cols + (img * rh + yy) * rw, count: rw) }
                    }
                }
            }
        }
    }

    /// The rectangle of dy as [K × N·rh·rw].
    static func take(_ dy: Tensor, _ ry: Band, _ rx: Band, k: Int, oh: Int, ow: Int, into out: UnsafeMutablePointer<Float>) {
        let n = dy.shape[0], (rh, rw) = (ry.hi - ry.lo, rx.hi - rx.lo), cols = n * rh * rw
        let src = UnsafePointer(dy.ptr)
        Parallel.forChunks(k, grain: max(1, 4096 / max(1, cols))) { r in
            for o in r {
                for img in 0..<n {
                    for yy in 0..<rh {
                        (out + o * cols + (img * rh + yy) * rw).update(from: src + ((img * k + o) * oh + ry.lo + yy) * ow + rx.lo, count: rw)
                    }
                }
            }
        }
    }
}
