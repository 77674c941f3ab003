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

    public static func forward(_ x: Tensor, _ r: ResizeSpec, _ y: Tensor) {
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let th = taps(inSize: h, outSize: r.height, alignCorners: r.alignCorners, antialias: r.antialias)
        let tw = taps(inSize: w, outSize: r.width, alignCorners: r.alignCorners, antialias: r.antialias)
        let planes = x.count / max(h * w, 1)
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
}
