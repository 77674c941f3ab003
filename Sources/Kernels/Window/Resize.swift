import Primitives
import Tensor

/// Bilinear resize as two separable linear maps: y = Wₕ · x · Wᵥᵀ per plane, where each row of a
/// weight matrix holds a few (source index, weight) taps. The same taps describe plain bilinear
/// (PyTorch `upsample_bilinear2d`) and antialiased bilinear (PyTorch `_upsample_bilinear2d_aa`,
/// = torchvision `Resize` on tensors: a triangle filter stretched by the downscale factor).
/// The backward pass applies the transposed maps.
public enum ResizeKernels {
    /// Taps for one output index: first source index and its weights.
    public struct Taps { public let start: Int; public let weights: [Float] }

    /// The taps of one axis resized from `inSize` to `outSize`.
    public static func taps(inSize: Int, outSize: Int, alignCorners: Bool, antialias: Bool) -> [Taps] {
        let scale: Double = alignCorners ? (outSize > 1 ? Double(inSize - 1) / Double(outSize - 1) : 0)
                                         : Double(inSize) / Double(outSize)
        if antialias && scale > 1 {
            let support = scale  // interp_size/2 · scale with interp_size = 2
            return (0..<outSize).map { i in
                let center = scale * (Double(i) + 0.5)
                let xmin = max(Int(center - support + 0.5), 0)
                let xmax = min(Int(center + support + 0.5), inSize)
                var ws: [Double] = []
                for j in xmin..<max(xmax, xmin) {
                    let t = abs((Double(j) - center + 0.5) / scale)
                    ws.append(t < 1 ? 1 - t : 0)
                }
                let total = ws.reduce(0, +)
                return Taps(start: xmin, weights: ws.map { Float(total != 0 ? $0 / total : 0) })
            }
        }
        return (0..<outSize).map { i in
            var src = alignCorners ? scale * Double(i) : scale * (Double(i) + 0.5) - 0.5
            if src < 0 { src = 0 }
            let i0 = min(Int(src), inSize - 1)
            let l = src - Double(i0)
            if i0 + 1 < inSize { return Taps(start: i0, weights: [Float(1 - l), Float(l)]) }
            return Taps(start: i0, weights: [1])
        }
    }

    /// A tap of at most two weights, flattened (no array per output index).
    struct Pair { let start: Int, count: Int, w0: Float, w1: Float }

    /// `t` as pairs when every output index has one or two taps (plain bilinear), else nil.
    static func pairs(_ t: [Taps]) -> [Pair]? {
        guard t.allSatisfy({ $0.weights.count == 1 || $0.weights.count == 2 }) else { return nil }
        return t.map { Pair(start: $0.start, count: $0.weights.count, w0: $0.weights[0], w1: $0.weights.count == 2 ? $0.weights[1] : 0) }
    }

    public static func forward(_ x: Tensor, _ r: ResizeSpec, _ y: Tensor) {
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let th = taps(inSize: h, outSize: r.height, alignCorners: r.alignCorners, antialias: r.antialias)
        let tw = taps(inSize: w, outSize: r.width, alignCorners: r.alignCorners, antialias: r.antialias)
        let planes = x.count / max(h * w, 1)
        if let ph = pairs(th), let pw = pairs(tw) {
            forwardPairs(x.ptr, h: h, w: w, planes: planes, ph, pw, y.ptr, r.height, r.width)
            return
        }
        Parallel.forChunks(planes, grain: 1) { range in
            var tmp = [Float](repeating: 0, count: h * r.width)  // horizontal pass first
            for p in range {
                let src = x.ptr + p * h * w, dst = y.ptr + p * r.height * r.width
                for iy in 0..<h {
                    for ox in 0..<r.width {
                        let t = tw[ox]; var s: Float = 0
                        for (k, wt) in t.weights.enumerated() { s += wt * src[iy * w + t.start + k] }
                        tmp[iy * r.width + ox] = s
                    }
                }
                for oy in 0..<r.height {
                    let t = th[oy]
                    for ox in 0..<r.width {
                        var s: Float = 0
                        for (k, wt) in t.weights.enumerated() { s += wt * tmp[(t.start + k) * r.width + ox] }
                        dst[oy * r.width + ox] = s
                    }
                }
            }
        }
    }

    public static func backward(_ dy: Tensor, _ r: ResizeSpec, _ dx: Tensor) {
        let (h, w) = (dx.shape[dx.rank - 2], dx.shape[dx.rank - 1])
        let th = taps(inSize: h, outSize: r.height, alignCorners: r.alignCorners, antialias: r.antialias)
        let tw = taps(inSize: w, outSize: r.width, alignCorners: r.alignCorners, antialias: r.antialias)
        let planes = dx.count / max(h * w, 1)
        dx.ptr.update(repeating: 0, count: dx.count)
        if let ph = pairs(th), let pw = pairs(tw) {
            backwardPairs(dy.ptr, planes: planes, ph, pw, dx.ptr, h: h, w: w, r.height, r.width)
            return
        }
        Parallel.forChunks(planes, grain: 1) { range in
            var tmp = [Float](repeating: 0, count: h * r.width)
            for p in range {
                let g = dy.ptr + p * r.height * r.width, dst = dx.ptr + p * h * w
                for i in 0..<tmp.count { tmp[i] = 0 }
                for oy in 0..<r.height {
                    let t = th[oy]
                    for (k, wt) in t.weights.enumerated() {
                        for ox in 0..<r.width { tmp[(t.start + k) * r.width + ox] += wt * g[oy * r.width + ox] }
                    }
                }
                for iy in 0..<h {
                    for ox in 0..<r.width {
                        let t = tw[ox], v = tmp[iy * r.width + ox]
                        for (k, wt) in t.weights.enumerated() { dst[iy * w + t.start + k] += wt * v }
                    }
                }
            }
        }
    }

    /// Plain bilinear (one or two taps per output index), the same arithmetic as the general
    /// loops above — each output is (0 + w₀·a) + w₁·b, horizontal pass first — with the taps
    /// flattened and the vertical pass (all of the output's writes) 16 lanes at a time: a row
    /// of the output is a blend of two rows of the horizontal result. SAM's 256² → 1024² mask
    /// upsampling spent ~3 ns per output in the general loops.
    static func forwardPairs(_ x: UnsafeMutablePointer<Float>, h: Int, w: Int, planes: Int, _ ph: [Pair], _ pw: [Pair],
                             _ y: UnsafeMutablePointer<Float>, _ oh: Int, _ ow: Int) {
        typealias V = SIMD16<Float>
        Parallel.forChunks(planes, grain: 1) { range in
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
            defer { tmp.deallocate() }
            ph.withUnsafeBufferPointer { ph in
            pw.withUnsafeBufferPointer { pw in
                for p in range {
                    let src = x + p * h * w, dst = y + p * oh * ow
                    for iy in 0..<h {
                        let row = src + iy * w, out = tmp + iy * ow
                        for ox in 0..<ow {
                            let q = pw[ox]
                            let s: Float = 0 + q.w0 * row[q.start]
                            out[ox] = q.count == 2 ? s + q.w1 * row[q.start + 1] : s
                        }
                    }
                    for oy in 0..<oh {
                        let q = ph[oy], a = UnsafePointer(tmp + q.start * ow), out = dst + oy * ow
                        let w0 = V(repeating: q.w0), w1 = V(repeating: q.w1), zero = V(repeating: 0)
                        var ox = 0
                        if q.count == 2 {
                            let b = a + ow
                            while ox + 16 <= ow { store16((zero + w0 * load16(a + ox)) + w1 * load16(b + ox), out + ox); ox += 16 }
                            while ox < ow { out[ox] = (0 + q.w0 * a[ox]) + q.w1 * b[ox]; ox += 1 }
                        } else {
                            while ox + 16 <= ow { store16(zero + w0 * load16(a + ox), out + ox); ox += 16 }
                            while ox < ow { out[ox] = 0 + q.w0 * a[ox]; ox += 1 }
                        }
                    }
                }
            }
            }
        }
    }

    /// The transposed maps of `forwardPairs`, accumulating in the order of the general loops
    /// (vertical: output rows in order, taps in order, 16 lanes at a time; then horizontal).
    static func backwardPairs(_ dy: UnsafeMutablePointer<Float>, planes: Int, _ ph: [Pair], _ pw: [Pair],
                              _ dx: UnsafeMutablePointer<Float>, h: Int, w: Int, _ oh: Int, _ ow: Int) {
        typealias V = SIMD16<Float>
        let monotone = zip(pw, pw.dropFirst()).allSatisfy { $0.start <= $1.start }
        Parallel.forChunks(planes, grain: 1) { range in
            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)
            defer { tmp.deallocate() }
            ph.withUnsafeBufferPointer { ph in
            pw.withUnsafeBufferPointer { pw in
                for p in range {
                    let g = UnsafePointer(dy + p * oh * ow), dst = dx + p * h * w
                    tmp.update(repeating: 0, count: h * ow)
                    for oy in 0..<oh {
                        let q = ph[oy], grow = g + oy * ow
                        for k in 0..<q.count {
                            let wt = k == 0 ? q.w0 : q.w1, acc = tmp + (q.start + k) * ow, wv = V(repeating: wt)
                            var ox = 0
                            while ox + 16 <= ow { store16(load16(UnsafePointer(acc + ox)) + wv * load16(grow + ox), acc + ox); ox += 16 }
                            while ox < ow { acc[ox] += wt * grow[ox]; ox += 1 }
                        }
                    }
                    for iy in 0..<h {
                        let row = tmp + iy * ow, out = dst + iy * w
                        if !monotone {
                            for ox in 0..<ow {
                                let q = pw[ox], v = row[ox]
                                out[q.start] += q.w0 * v
                                if q.count == 2 { out[q.start + 1] += q.w1 * v }
                            }
                            continue
                        }
                        // starts never decrease along ox, so dst[idx] and dst[idx + 1] are the
                        // only open sums: keep them in registers (the same additions in the
                        // same order as `out[…] +=`, without a store-to-load chain per tap)
                        var idx = pw[0].start, a0: Float = 0, a1: Float = 0
                        for ox in 0..<ow {
                            let q = pw[ox], v = row[ox]
                            if q.start != idx {
                                out[idx] = a0
                                if q.start == idx + 1 { a0 = a1 } else { if idx + 1 < w { out[idx + 1] = a1 }; a0 = 0 }
                                a1 = 0
                                idx = q.start
                            }
                            a0 += q.w0 * v
                            if q.count == 2 { a1 += q.w1 * v }
                        }
                        out[idx] = a0
                        if idx + 1 < w { out[idx + 1] = a1 }
                    }
                }
            }
            }
        }
    }
}
