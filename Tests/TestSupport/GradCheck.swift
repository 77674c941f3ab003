import Compiler
import Graph
import Runtime
import Tensor
import Train

/// Runs `build` on fresh graph inputs named x0, x1, … and returns the named results.
public func evaluate(_ inputs: [Tensor], _ build: (Graph, [Value]) throws -> Value) throws -> Tensor {
    let g = Graph()
    let vs = inputs.enumerated().map { g.input("x\($0.offset)", $0.element.shape) }
    g.output("y", try build(g, vs))
    let s = try Session(g)
    var b: [String: Tensor] = [:]
    for (i, t) in inputs.enumerated() { b["x\(i)"] = t }
    return try s.run(b)["y"]!
}

/// The result of comparing autodiff gradients with central finite differences.
public struct GradCheckResult: CustomStringConvertible {
    /// Worst relative L2 error over the checked inputs.
    public let worst: Double
    public let perInput: [Double]
    public var description: String { "worst \(worst), per input \(perInput)" }
}

/// Finite-difference gradient check of L = Σ build(inputs)·ct with a random cotangent ct.
/// Analytic gradients come from `Autodiff` through the compiled plan; numeric ones from central
/// differences (step `h`, accumulated in Double) on up to `samples` elements per input.
public func gradCheck(_ inputs: [Tensor], wrt: [Int]? = nil, h: Float = 1e-2, samples: Int = 40, seed: UInt64 = 7,
                      _ build: (Graph, [Value]) throws -> Value) throws -> GradCheckResult {
    var rng = SeededRNG(seed: seed)
    let which = wrt ?? Array(inputs.indices)
    // analytic
    let g = Graph()
    let vs = inputs.enumerated().map { g.input("x\($0.offset)", $0.element.shape) }
    let y = try build(g, vs)
    g.output("y", y)
    let ct = rng.tensor(g.shape(y))
    let session = try Session(g, cotangents: ["y": "ct"], wrt: which.map { "x\($0)" })
    var bind: [String: Tensor] = ["ct": ct]
    for (i, t) in inputs.enumerated() { bind["x\(i)"] = t }
    let res = try session.run(bind)
    // numeric: a forward-only plan
    let fg = Graph()
    let fvs = inputs.enumerated().map { fg.input("x\($0.offset)", $0.element.shape) }
    fg.output("y", try build(fg, fvs))
    let fwd = try Session(fg)
    func loss(_ b: [String: Tensor]) throws -> Double {
        let out = try fwd.run(b)["y"]!
        var s = 0.0
        for (a, c) in zip(out.floats, ct.floats) { s += Double(a) * Double(c) }
        return s
    }
    var errs: [Double] = []
    for i in which {
        let analytic = res["grad.x\(i)"]!
        let x = inputs[i].copy()
        var b = bind
        b.removeValue(forKey: "ct")
        b["x\(i)"] = x
        let n = x.count
        let idx = n <= samples ? Array(0..<n) : (0..<samples).map { _ in rng.int(0...(n - 1)) }
        var num: [Float] = [], ana: [Float] = []
        for j in idx {
            let orig = x.floats[j]
            x.floats[j] = orig + h
            let lp = try loss(b)
            x.floats[j] = orig - h
            let lm = try loss(b)
            x.floats[j] = orig
            num.append(Float((lp - lm) / Double(2 * h)))
            ana.append(analytic.floats[j])
        }
        errs.append(relativeL2(ana, num))
    }
    return GradCheckResult(worst: errs.max() ?? 0, perInput: errs)
}
