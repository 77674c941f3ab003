import Foundation
import Primitives

/// Unary kernels: y = f(x) and dx = dy·f′(x), 16 lanes at a time, split over the worker threads.
public enum UnaryKernels {
    public typealias V = SIMD16<Float>

    /// Vector form of f where one exists (nil: use the scalar reference per lane).
    @inline(__always) static func forward(_ f: UnaryFn, _ x: V) -> V? {
        switch f {
        case .neg: return -x
        case .abs: return VMath.abs(x)
        case .relu: return x.replacing(with: 0, where: .!(x .> 0))
        case .sigmoid: return VMath.sigmoid(x)
        case .tanh: return VMath.tanh(x)
        case .exp: return VMath.exp(x)
        case .sqrt: return x.squareRoot()
        case .rsqrt: return 1 / x.squareRoot()
        case .geluErf: return geluErf(x)
        case .geluTanh: return 0.5 * x * (1 + VMath.tanh(0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)))
        case .hardswish: return x * VMath.minimum(VMath.maximum(x + 3, V(repeating: 0)), V(repeating: 6)) / 6
        case .square: return x * x
        case .reciprocal: return 1 / x
        case .affine(let s, let b): return x * s + b
        case .clamp(let lo, let hi): return VMath.minimum(VMath.maximum(x, V(repeating: lo)), V(repeating: hi))
        case .step: return V(repeating: 0).replacing(with: 1, where: x .> 0)
        case .log: return VMath.log(x)
        case .softplus: return VMath.softplus(x)
        case .sin: return VMath.sin(x)
        case .cos: return VMath.cos(x)
        }
    }

    /// Vector form of dy·f′(x) where one exists.
    @inline(__always) static func backward(_ f: UnaryFn, _ x: V, _ dy: V) -> V? {
        switch f {
        case .neg: return -dy
        case .relu: return dy.replacing(with: 0, where: .!(x .> 0))
        case .sigmoid: let s = VMath.sigmoid(x); return dy * s * (1 - s)
        case .softplus: return dy * VMath.sigmoid(x)
        case .tanh: let t = VMath.tanh(x); return dy * (1 - t * t)
        case .exp: return dy * VMath.exp(x)
        case .sqrt: return dy * 0.5 / x.squareRoot()
        case .square: return dy * 2 * x
        case .reciprocal: return -dy / (x * x)
        case .log: return dy / x
        case .affine(let s, _): return dy * s
        case .sin: return dy * VMath.cos(x)
        case .cos: return -dy * VMath.sin(x)
        case .geluErf:
            let cdf = 0.5 * (1 + VMath.erf(x * 0.707_106_781_186_547_5))
            let pdf = VMath.exp(-0.5 * x * x) * 0.398_942_280_401_432_7
            return dy * (cdf + x * pdf)
        case .clamp(let lo, let hi):
            return dy.replacing(with: 0, where: (x .< lo) .| (x .> hi))
        default: return nil
        }
    }

    /// Single-threaded loop over a short run (fused kernels call this per block).
    @inline(__always)
    static func applySerial(_ f: UnaryFn, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        if forward(f, V(repeating: 1)) != nil {
            writeLoop(y, 0..<n, stream: false, { forward(f, load16(x + $0))! }, { Float(f.reference(Double(x[$0]))) })
        } else {
            for i in 0..<n { y[i] = Float(f.reference(Double(x[i]))) }
        }
    }

    @inline(__always)
    static func gradientSerial(_ f: UnaryFn, x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count n: Int) {
        if backward(f, V(repeating: 1), V(repeating: 1)) != nil {
            writeLoop(dx, 0..<n, stream: false, { backward(f, load16(x + $0), load16(dy + $0))! },
                      { dy[$0] * Float(f.referenceDerivative(Double(x[$0]))) })
        } else {
            for i in 0..<n { dx[i] = dy[i] * Float(f.referenceDerivative(Double(x[i]))) }
        }
    }

    public static func apply(_ f: UnaryFn, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        let stream = n * 4 >= streamingThresholdBytes
        if case .geluErf = f {      // a loop of its own, erf inlined (see `geluErf`): an MLP's activation after its GEMM
            Parallel.forChunks(n) { r in geluLoop(x, y, r, stream: stream) }
            return
        }
        let vector = forward(f, V(repeating: 1)) != nil
        Parallel.forChunks(n) { r in
            if vector && stream {
                writeLoop(y, r, stream: true, { forward(f, load16(x + $0))! }, { Float(f.reference(Double(x[$0]))) })
            } else {
                applySerial(f, x + r.lowerBound, y + r.lowerBound, count: r.count)
            }
        }
    }

    public static func gradient(_ f: UnaryFn, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, count n: Int) {
        let stream = n * 4 >= streamingThresholdBytes
        let vector = backward(f, V(repeating: 1), V(repeating: 1)) != nil
        Parallel.forChunks(n) { r in
            if vector && stream {
                writeLoop(dx, r, stream: true, { backward(f, load16(x + $0), load16(dy + $0))! },
                          { dy[$0] * Float(f.referenceDerivative(Double(x[$0]))) })
            } else {
                gradientSerial(f, x: x + r.lowerBound, dy: dy + r.lowerBound, dx: dx + r.lowerBound, count: r.count)
            }
        }
    }
}
