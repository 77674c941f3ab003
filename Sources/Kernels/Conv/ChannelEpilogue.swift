import Primitives
import Tensor

/// What a convolution does to its result before writing it out: a chain of per-output-channel
/// binary ops (BatchNorm's `− mean`, `· rsqrt(var + eps)`, `· γ`, `+ β`; a bias) folded into
/// y = (conv + o[c])·s[c] + t[c], then optionally a full-size residual r added (a ResNet or
/// MBConv skip connection: y + r), then an optional elementwise activation.
///
/// Each step names a binary op and one of the kernel's per-channel operands (a tensor holding
/// one value per output channel, or a single value). The three coefficient vectors are computed
/// at run time, per call, from those operands (C values: nothing compared to the convolution), so
/// parameters stay run-time bindings. Adds before the first multiply go to `o`, so BatchNorm
/// subtracts its mean before scaling, as the unfused ops do (no cancellation between two large
/// products when the mean is large against the spread).
public struct ChannelEpilogue: Hashable, Sendable, CustomStringConvertible {
    public struct Step: Hashable, Sendable {
        /// add, sub, mul or div, with the convolution's running value as the left operand
        public var fn: BinaryFn
        /// index into the per-channel operands
        public var operand: Int
        public init(_ fn: BinaryFn, _ operand: Int) { self.fn = fn; self.operand = operand }
    }
    public var steps: [Step]
    /// index into the operands of a tensor of the result's shape added after the steps
    public var residual: Int?
    public var activation: UnaryFn?

    public init(steps: [Step], residual: Int? = nil, activation: UnaryFn?) {
        self.steps = steps; self.residual = residual; self.activation = activation
    }

    /// The binary ops a step may hold.
    public static func foldable(_ fn: BinaryFn) -> Bool { [.add, .sub, .mul, .div].contains(fn) }

    /// e.g. "sub·mul·mul·add·geluErf"
    public var description: String {
        (steps.map(\.fn.rawValue) + (residual == nil ? [] : ["residual"]) + (activation.map { [$0.name] } ?? [])).joined(separator: "·")
    }

    /// Per-channel (o, s, t) for `channels` output channels.
    func coefficients(_ operands: [Tensor], channels: Int) -> (o: [Float], s: [Float], t: [Float]) {
        var o = [Float](repeating: 0, count: channels), s = [Float](repeating: 1, count: channels), t = o
        var scaled = false
        for st in steps {
            let p = operands[st.operand].ptr, one = operands[st.operand].count == 1
            for c in 0..<channels {
                let v = p[one ? 0 : c]
                switch st.fn {
                case .add: if scaled { t[c] += v } else { o[c] += v }
                case .sub: if scaled { t[c] -= v } else { o[c] -= v }
                case .mul: s[c] *= v; t[c] *= v
                case .div: s[c] /= v; t[c] /= v
                default: fatalError("ChannelEpilogue: \(st.fn) does not fold")
                }
            }
            if st.fn == .mul || st.fn == .div { scaled = true }
        }
        return (o, s, t)
    }

    /// y ← act((y + o)·s + t [+ r]) over `n` values of one channel, in place (`r`: the matching
    /// values of the residual, when there is one): one pass for no activation, GELU (erf) and
    /// ReLU; other activations run over L1-sized pieces afterwards.
    func apply(_ y: UnsafeMutablePointer<Float>, _ n: Int, o: Float, s: Float, t: Float, r: UnsafePointer<Float>? = nil) {
        switch activation {
        case nil: Self.affine(y, n, o, s, t, r) { $0 }
        case .geluErf?: Self.affineGelu(y, n, o, s, t, r)
        case .relu?: Self.affine(y, n, o, s, t, r) { UnaryKernels.forward(.relu, $0)! }
        case let f?:
            let piece = 2048
            var j = 0
            while j < n {
                let len = min(piece, n - j)
                Self.affine(y + j, len, o, s, t, r.map { $0 + j }) { $0 }
                UnaryKernels.applySerial(f, y + j, y + j, count: len)
                j += len
            }
        }
    }

    /// `affine` with GELU (erf), its vector loop written out in a function of its own (one per
    /// residual case): as `affine`'s closure, or two loops in one function, the optimizer's size
    /// limits leave GELU or erf a call per 16 values (see `UnaryKernels.geluErf`).
    static func affineGelu(_ y: UnsafeMutablePointer<Float>, _ n: Int, _ o: Float, _ s: Float, _ t: Float, _ r: UnsafePointer<Float>?) {
        let body = n / 16 * 16
        if let r { affineGeluResidual(y, body, o, s, t, r) } else { affineGelu(y, body, o, s, t) }
        if body < n { affine(y + body, n - body, o, s, t, r.map { $0 + body }) { UnaryKernels.geluErf($0) } }
    }

    /// y ← gelu((y + o)·s + t) over n values, n a multiple of 16.
    @inline(never)
    static func affineGelu(_ y: UnsafeMutablePointer<Float>, _ n: Int, _ o: Float, _ s: Float, _ t: Float) {
        let ov = SIMD16<Float>(repeating: o), sv = SIMD16<Float>(repeating: s), tv = SIMD16<Float>(repeating: t)
        for i in stride(from: 0, to: n, by: 16) { store16(UnaryKernels.geluErf((load16(y + i) + ov) * sv + tv), y + i) }
    }

    /// y ← gelu((y + o)·s + t + r) over n values, n a multiple of 16.
    @inline(never)
    static func affineGeluResidual(_ y: UnsafeMutablePointer<Float>, _ n: Int, _ o: Float, _ s: Float, _ t: Float, _ r: UnsafePointer<Float>) {
        let ov = SIMD16<Float>(repeating: o), sv = SIMD16<Float>(repeating: s), tv = SIMD16<Float>(repeating: t)
        for i in stride(from: 0, to: n, by: 16) { store16(UnaryKernels.geluErf((load16(y + i) + ov) * sv + tv + load16(r + i)), y + i) }
    }

    /// y ← f((y + o)·s + t [+ r]) in place; f is a vector function (the tail runs it on a padded
    /// vector).
    @inline(__always)
    static func affine(_ y: UnsafeMutablePointer<Float>, _ n: Int, _ o: Float, _ s: Float, _ t: Float,
                       _ r: UnsafePointer<Float>?, _ f: (SIMD16<Float>) -> SIMD16<Float>) {
        let ov = SIMD16<Float>(repeating: o), sv = SIMD16<Float>(repeating: s), tv = SIMD16<Float>(repeating: t)
        var i = 0
        if let r {
            while i + 16 <= n { store16(f((load16(y + i) + ov) * sv + tv + load16(r + i)), y + i); i += 16 }
        } else {
            while i + 16 <= n { store16(f((load16(y + i) + ov) * sv + tv), y + i); i += 16 }
        }
        if i < n {
            var v = SIMD16<Float>(repeating: 0), w = v
            for l in 0..<(n - i) { v[l] = y[i + l]; w[l] = r?[i + l] ?? 0 }
            let out = f((v + ov) * sv + tv + w)
            for l in 0..<(n - i) { y[i + l] = out[l] }
        }
    }

    /// Applies the epilogue to an NCHW result whose channel planes hold `plane` values each.
    func apply(_ y: Tensor, operands: [Tensor]) {
        let c = y.shape[1], plane = ShapeMath.count(Array(y.shape.dropFirst(2)))
        let k = coefficients(operands, channels: c)
        let rows = y.shape[0] * c
        let res = residual.map { UnsafePointer(operands[$0].ptr) }
        Parallel.forChunks(rows, grain: max(1, 8192 / max(plane, 1))) { range in
            for r in range {
                let ch = r % c
                apply(y.ptr + r * plane, plane, o: k.o[ch], s: k.s[ch], t: k.t[ch], r: res.map { $0 + r * plane })
            }
        }
    }
}
