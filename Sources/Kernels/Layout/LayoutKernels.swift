import Tensor

/// Layout ops as strided copies (see `Strided`).
public enum LayoutKernels {
    public static func broadcast(_ x: Tensor, _ y: Tensor) {
        Strided.gather(x.ptr, offset: 0, strides: broadcastStrides(x.shape, to: y.shape), shape: y.shape, into: y.ptr)
    }

    public static func permute(_ x: Tensor, _ perm: [Int], _ y: Tensor) {
        let st = ShapeMath.strides(x.shape)
        Strided.gather(x.ptr, offset: 0, strides: perm.map { st[$0] }, shape: y.shape, into: y.ptr)
    }

    public static func slice(_ x: Tensor, starts: [Int], steps: [Int], _ y: Tensor) {
        let st = ShapeMath.strides(x.shape)
        let off = zip(starts, st).reduce(0) { $0 + $1.0 * $1.1 }
        Strided.gather(x.ptr, offset: off, strides: zip(st, steps).map { $0 * $1 }, shape: y.shape, into: y.ptr)
    }

    public static func sliceBackward(_ dy: Tensor, starts: [Int], steps: [Int], _ dx: Tensor) {
        dx.ptr.update(repeating: 0, count: dx.count)
        let st = ShapeMath.strides(dx.shape)
        let off = zip(starts, st).reduce(0) { $0 + $1.0 * $1.1 }
        Strided.scatter(dy.ptr, shape: dy.shape, into: dx.ptr, offset: off, strides: zip(st, steps).map { $0 * $1 })
    }

    public static func pad(_ x: Tensor, low: [Int], high: [Int], value: Float, _ y: Tensor) {
        y.ptr.update(repeating: value, count: y.count)
        // Negative padding crops: copy only the overlapping part.
        let st = ShapeMath.strides(y.shape), xst = ShapeMath.strides(x.shape)
        var shape: [Int] = [], srcOff = 0, dstOff = 0
        for i in 0..<x.rank {
            let lo = low[i], hi = high[i]
            let srcStart = max(0, -lo), srcEnd = x.shape[i] - max(0, -hi)
            shape.append(max(0, srcEnd - srcStart))
            srcOff += srcStart * xst[i]
            dstOff += max(0, lo) * st[i]
        }
        if ShapeMath.count(shape) == 0 { return }
        let tmp = shape == x.shape ? x : {
            let t = Tensor(zeros: shape)
            Strided.gather(x.ptr, offset: srcOff, strides: xst, shape: shape, into: t.ptr)
            return t
        }()
        Strided.scatter(tmp.ptr, shape: shape, into: y.ptr, offset: dstOff, strides: st)
    }

    public static func concat(_ xs: [Tensor], axis: Int, _ y: Tensor) {
        let st = ShapeMath.strides(y.shape)
        var offset = 0
        for x in xs {
            if x.count > 0 {
                Strided.scatter(x.ptr, shape: x.shape, into: y.ptr, offset: offset * st[axis], strides: st)
            }
            offset += x.shape[axis]
        }
    }

    public static func gatherRows(_ x: Tensor, _ idx: [Int], _ y: Tensor) {
        let row = x.count / max(x.shape[0], 1)
        for (i, j) in idx.enumerated() { (y.ptr + i * row).update(from: x.ptr + j * row, count: row) }
    }

    public static func scatterAddRows(_ dy: Tensor, _ idx: [Int], _ dx: Tensor) {
        dx.ptr.update(repeating: 0, count: dx.count)
        let row = dx.count / max(dx.shape[0], 1)
        for (i, j) in idx.enumerated() {
            let s = dy.ptr + i * row, d = dx.ptr + j * row
            for k in 0..<row { d[k] += s[k] }
        }
    }
}
