/// The vocabulary shared by the graph IR (`Graph`) and the kernels (`Kernels`): what an op
/// computes, without saying where its operands live. Neither side owns it, so both depend on it.

/// Elementwise functions of one operand. Parameterised forms carry their constants.
public enum UnaryFn: Hashable, Sendable, Codable {
    case neg, abs, relu, sigmoid, tanh, exp, log, sqrt, rsqrt, sin, cos
    case geluErf, geluTanh, hardswish, square, reciprocal
    /// log(1 + eˣ), computed stably
    case softplus
    /// x·scale + shift
    case affine(scale: Float, shift: Float)
    /// min(max(x, lo), hi)
    case clamp(lo: Float, hi: Float)
    /// 1 where x > 0, else 0 (no gradient)
    case step

    /// Has a derivative (everything but `step`).
    public var differentiable: Bool { self != .step }

    /// Name used by printers and the serialiser.
    public var name: String {
        switch self {
        case .affine(let s, let b): return "affine(\(s),\(b))"
        case .clamp(let lo, let hi): return "clamp(\(lo),\(hi))"
        default: return "\(self)"
        }
    }
}

/// Elementwise functions of two broadcast operands.
public enum BinaryFn: String, Hashable, Sendable, Codable, CaseIterable {
    case add, sub, mul, div, maximum, minimum
    /// 1 where a == b, else 0 (no gradient)
    case equal
}

/// Reductions over a set of axes.
public enum ReduceFn: String, Hashable, Sendable, Codable, CaseIterable {
    case sum, mean, max
}

/// Geometry of a 2-D convolution (NCHW activations, OIHW weights).
public struct ConvGeometry: Hashable, Sendable, Codable, CustomStringConvertible {
    public var stride: (Int, Int) { (strideH, strideW) }
    public var strideH, strideW, padH, padW, dilationH, dilationW, groups: Int

    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.init(strideH: stride, strideW: stride, padH: padding, padW: padding,
                  dilationH: dilation, dilationW: dilation, groups: groups)
    }

    public init(strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int, groups: Int) {
        self.strideH = strideH; self.strideW = strideW; self.padH = padH; self.padW = padW
        self.dilationH = dilationH; self.dilationW = dilationW; self.groups = groups
    }

    /// Output extent of one spatial axis.
    public static func outExtent(_ n: Int, kernel: Int, stride: Int, pad: Int, dilation: Int) -> Int {
        (n + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1
    }

    public var description: String {
        "s\(strideH)x\(strideW) p\(padH)x\(padW) d\(dilationH)x\(dilationW) g\(groups)"
    }
}

/// Geometry of a square-window max pool (PyTorch `max_pool2d`, floor mode, -inf padding).
public struct PoolGeometry: Hashable, Sendable, Codable {
    public var kernel, stride, padding: Int
    public init(kernel: Int, stride: Int, padding: Int) { self.kernel = kernel; self.stride = stride; self.padding = padding }
}

/// Bilinear resize of the last two axes (PyTorch `interpolate(mode='bilinear')`).
public struct ResizeSpec: Hashable, Sendable, Codable {
    public var height, width: Int
    public var alignCorners: Bool
    public var antialias: Bool
    public init(height: Int, width: Int, alignCorners: Bool = false, antialias: Bool = false) {
        self.height = height; self.width = width; self.alignCorners = alignCorners; self.antialias = antialias
    }
}

/// Windowed multi-head attention on an image of token rows (TinyViT's `TinyViTBlock` attention,
/// as the compiler's `WindowAttentionFusion` forms it): the op reads qkv [B, H, W, R], cuts the
/// image into `window`×`window` windows (padded at the bottom and right to whole windows), and in
/// each window and head h computes softmax(scale·q·kᵀ + bias[h])·v over its N = window² tokens.
/// Row columns: head h's query at `qOffset + h·headStride` (`d` floats), its key at
/// `kOffset + h·headStride` (`d`), its value at `vOffset + h·headStride` (`dv`). Window
/// positions outside the image hold the pad row (operand 2, R floats) as their token: the row a
/// zero-padded token gets from the row-wise ops that made qkv. Only the image's own queries are
/// computed; the result is [B, H, W, heads·dv], head h at columns h·dv.
public struct WindowAttentionSpec: Hashable, Sendable, Codable, CustomStringConvertible {
    public var window, heads, d, dv: Int
    public var scale: Float
    public var qOffset, kOffset, vOffset, headStride: Int

    public init(window: Int, heads: Int, d: Int, dv: Int, scale: Float, qOffset: Int, kOffset: Int, vOffset: Int, headStride: Int) {
        self.window = window; self.heads = heads; self.d = d; self.dv = dv; self.scale = scale
        self.qOffset = qOffset; self.kOffset = kOffset; self.vOffset = vOffset; self.headStride = headStride
    }

    /// tokens per window
    public var tokens: Int { window * window }

    /// The narrowest qkv row these columns fit in.
    public var minimumRow: Int {
        max(qOffset + d, kOffset + d, vOffset + dv) + (heads - 1) * headStride
    }

    public var description: String {
        "window \(window) heads \(heads) d \(d) dv \(dv) scale \(scale) q+\(qOffset) k+\(kOffset) v+\(vOffset) head+\(headStride)"
    }
}
