import Graph
import Primitives
import Tensor

/// Builds a model into a `Graph` with PyTorch state-dict names: `scope("blocks.0") { … }` nests
/// names the way `nn.Module` attributes do, `param("weight", shape)` declares a weight, and every
/// declared name and shape is recorded so a state dict can be checked against it before binding.
/// Build-time constant tensors (grids, index tables) are bound like weights under `constants`.
public final class ModelBuilder {
    public let graph: Graph
    /// Declared parameters in declaration order.
    public private(set) var declared: [(name: String, shape: [Int])] = []
    /// Constant tensors the graph reads through bindings.
    public private(set) var constants: [String: Tensor] = [:]
    private var path: [String] = []

    public init(graph: Graph = Graph()) { self.graph = graph }

    /// The current dotted prefix.
    public var prefix: String { path.joined(separator: ".") }

    func qualified(_ name: String) -> String { path.isEmpty ? name : prefix + "." + name }

    /// Runs `body` inside a name scope (and labels the nodes it creates with the scope path).
    public func scope<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        path.append(name)
        let saved = graph.currentLabel
        graph.currentLabel = prefix
        defer { path.removeLast(); graph.currentLabel = saved }
        return try body()
    }

    /// Declares (or reuses) the parameter `prefix.name`.
    public func param(_ name: String, _ shape: [Int]) -> Value {
        let full = qualified(name)
        if let v = graph.parameterValue(full) { return v }
        declared.append((full, shape))
        return graph.parameter(full, shape)
    }

    /// A constant tensor bound at run time (not a weight; never trained).
    public func constant(_ name: String, _ t: Tensor) -> Value {
        let full = "const." + qualified(name)
        if let v = graph.parameterValue(full) { return v }
        constants[full] = t
        return graph.parameter(full, t.shape)
    }

    /// Names of the declared parameters under `prefix` (e.g. "mask_decoder.").
    public func parameterNames(under prefix: String = "") -> [String] {
        declared.map(\.name).filter { $0.hasPrefix(prefix) }
    }
}

// MARK: common layers (PyTorch modules as graph fragments)

extension ModelBuilder {
    /// `nn.Linear(inF, outF, bias)` applied to the last axis.
    public func linear(_ name: String, _ x: Value, _ inF: Int, _ outF: Int, bias: Bool = true) throws -> Value {
        try scope(name) {
            try graph.linear(x, param("weight", [outF, inF]), bias ? param("bias", [outF]) : nil)
        }
    }

    /// The parameters of `nn.Linear(inF, outF)`, weight then bias (the state-dict order), for
    /// layers that use them in other products than `linear`.
    public func linearParameters(_ name: String, _ inF: Int, _ outF: Int) -> (weight: Value, bias: Value) {
        scope(name) { (param("weight", [outF, inF]), param("bias", [outF])) }
    }

    /// `nn.Conv2d`.
    public func conv2d(_ name: String, _ x: Value, _ cin: Int, _ cout: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                       dilation: Int = 1, groups: Int = 1, bias: Bool = true) throws -> Value {
        try scope(name) {
            try graph.conv2d(x, param("weight", [cout, cin / groups, kernel, kernel]), bias ? param("bias", [cout]) : nil,
                             ConvGeometry(stride: stride, padding: padding, dilation: dilation, groups: groups))
        }
    }

    /// `nn.ConvTranspose2d(cin, cout, kernel, stride)`.
    public func convTranspose2d(_ name: String, _ x: Value, _ cin: Int, _ cout: Int, kernel: Int, stride: Int) throws -> Value {
        try scope(name) {
            try graph.convTranspose2d(x, param("weight", [cin, cout, kernel, kernel]), param("bias", [cout]), stride: stride)
        }
    }

    /// `nn.LayerNorm(dim, eps)` over the last axis.
    public func layerNorm(_ name: String, _ x: Value, _ dim: Int, eps: Float = 1e-5) throws -> Value {
        try scope(name) { try graph.layerNorm(x, weight: param("weight", [dim]), bias: param("bias", [dim]), eps: eps) }
    }

    /// segment-anything `LayerNorm2d(c)` on NCHW.
    public func layerNorm2d(_ name: String, _ x: Value, _ c: Int, eps: Float = 1e-6) throws -> Value {
        try scope(name) { try graph.layerNorm2d(x, weight: param("weight", [c]), bias: param("bias", [c]), eps: eps) }
    }

    /// `nn.Embedding(n, dim).weight`.
    public func embedding(_ name: String, _ n: Int, _ dim: Int) -> Value {
        scope(name) { param("weight", [n, dim]) }
    }
}
