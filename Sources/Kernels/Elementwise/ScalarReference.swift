import Foundation
import Primitives

/// Plain scalar definitions of every unary function and its derivative, in Double. They are the
/// reference the SIMD kernels are tested against, and the fallback for lanes without a SIMD form.
extension UnaryFn {
    public func reference(_ x: Double) -> Double {
        switch self {
        case .neg: return -x
        case .abs: return Swift.abs(x)
        case .relu: return x > 0 ? x : 0
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .exp: return Foundation.exp(x)
        case .log: return Foundation.log(x)
        case .sqrt: return x.squareRoot()
        case .rsqrt: return 1 / x.squareRoot()
        case .sin: return Foundation.sin(x)
        case .cos: return Foundation.cos(x)
        case .geluErf: return 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
        case .geluTanh:
            return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case .hardswish: return x * Swift.min(Swift.max(x + 3, 0), 6) / 6
        case .square: return x * x
        case .reciprocal: return 1 / x
        case .softplus: return Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
        case .affine(let s, let b): return x * Double(s) + Double(b)
        case .clamp(let lo, let hi): return Swift.min(Swift.max(x, Double(lo)), Double(hi))
        case .step: return x > 0 ? 1 : 0
        }
    }

    /// f′(x), with PyTorch's choices at kinks (relu′(0) = 0, |x|′(0) = 0, clamp′ = 1 on the closed range).
    public func referenceDerivative(_ x: Double) -> Double {
        switch self {
        case .neg: return -1
        case .abs: return x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .relu: return x > 0 ? 1 : 0
        case .sigmoid: let s = 1 / (1 + Foundation.exp(-x)); return s * (1 - s)
        case .tanh: let t = Foundation.tanh(x); return 1 - t * t
        case .exp: return Foundation.exp(x)
        case .log: return 1 / x
        case .sqrt: return 0.5 / x.squareRoot()
        case .rsqrt: return -0.5 / (x * x.squareRoot())
        case .sin: return Foundation.cos(x)
        case .cos: return -Foundation.sin(x)
        case .geluErf:
            return 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
        case .geluTanh:
            let k = (2 / Double.pi).squareRoot()
            let t = Foundation.tanh(k * (x + 0.044715 * x * x * x))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        case .hardswish: return x < -3 ? 0 : (x <= 3 ? x / 3 + 0.5 : 1)
        case .square: return 2 * x
        case .reciprocal: return -1 / (x * x)
        case .softplus: return 1 / (1 + Foundation.exp(-x))
        case .affine(let s, _): return Double(s)
        case .clamp(let lo, let hi): return (x >= Double(lo) && x <= Double(hi)) ? 1 : 0
        case .step: return 0
        }
    }
}
