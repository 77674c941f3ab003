import Primitives
import Tensor

/// Broadcasting binary kernels. Axes are collapsed first, then the innermost run is one of:
/// both contiguous (vector·vector), one operand constant along it (vector·splat), or strided.
public enum BinaryKernels {
    public typealias V = SIMD16<Float>

    @inline(__always) static func op(_ f: BinaryFn, _ a: V, _ b: V) -> V {
        switch f {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .maximum: return a.replacing(with: b, where: b .> a)
        case .minimum: return a.replacing(with: b, where: b .< a)
        case .equal: return V(repeating: 0).replacing(with: 1, where: a .== b)
        }
    }

    @inline(__always) static func op(_ f: BinaryFn, _ a: Float, _ b: Float) -> Float {
        switch f {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        case .maximum: return b > a ? b : a
        case .minimum: return b < a ? b : a
        case .equal: return a == b ? 1 : 0
        }
    }

    public static func apply(_ f: BinaryFn, _ a: Tensor, _ b: Tensor, _ y: Tensor) {
        let out = y.shape
        let c = collapse(shape: out, strides: [broadcastStrides(a.shape, to: out), broadcastStrides(b.shape, to: out),
                                              ShapeMath.strides(out)])
        let shape = c.shape, sa = c.strides[0], sb = c.strides[1]
        let r = shape.count
        let inner = shape[r - 1], ia = sa[r - 1], ib = sb[r - 1]
        let rows = ShapeMath.count(shape) / inner
        let pa = UnsafePointer(a.ptr), pb = UnsafePointer(b.ptr), py = y.ptr
        let outerShape = Array(shape.dropLast()), oa = Array(sa.dropLast()), ob = Array(sb.dropLast())
        if r == 1 && ia == 1 && ib == 1 {
            // same shapes: one flat loop, split over threads, streamed when large
            let stream = inner * 4 >= streamingThresholdBytes
            Parallel.forChunks(inner) { range in
                writeLoop(py, range, stream: stream, { op(f, load16(pa + $0), load16(pb + $0)) }, { op(f, pa[$0], pb[$0]) })
            }
            return
        }
        Parallel.forChunks(rows, grain: max(1, (1 << 15) / max(inner, 1))) { range in
            for row in range {
                var offA = 0, offB = 0, rem = row
                for k in stride(from: outerShape.count - 1, through: 0, by: -1) {
                    let i = rem % outerShape[k]; rem /= outerShape[k]
                    offA += i * oa[k]; offB += i * ob[k]
                }
                run(f, pa + offA, ia, pb + offB, ib, py + row * inner, inner)
            }
        }
    }

    @inline(__always)
    static func run(_ f: BinaryFn, _ a: UnsafePointer<Float>, _ ia: Int, _ b: UnsafePointer<Float>, _ ib: Int,
                    _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        if ia == 1 && ib == 1 {
            while i + 16 <= n { store16(op(f, load16(a + i), load16(b + i)), y + i); i += 16 }
            while i < n { y[i] = op(f, a[i], b[i]); i += 1 }
        } else if ia == 1 && ib == 0 {
            let bv = V(repeating: b[0])
            while i + 16 <= n { store16(op(f, load16(a + i), bv), y + i); i += 16 }
            while i < n { y[i] = op(f, a[i], b[0]); i += 1 }
        } else if ia == 0 && ib == 1 {
            let av = V(repeating: a[0])
            while i + 16 <= n { store16(op(f, av, load16(b + i)), y + i); i += 16 }
            while i < n { y[i] = op(f, a[0], b[i]); i += 1 }
        } else {
            while i < n { y[i] = op(f, a[i * ia], b[i * ib]); i += 1 }
        }
    }
}
