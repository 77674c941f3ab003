import Foundation
import Tensor

/// The goldens' deterministic "formula" weights, reproducible without PyTorch: for the i-th
/// state-dict entry, u[j] = 2·frac(j·0.6180339887498949 + i·0.1234567 + seed·0.01) − 1 and
/// - weights with ≥ 2 dims: √(3/fan_in)·u (fan_in = numel / shape[0]);
/// - norm weights: 1 + 0.1·u. The goldens' generator recognises a norm layer by its name: a
///   1-dim `.weight` whose module name contains `bn` or `norm`, or that sits at index 1 of a
///   Sequential (`….1.weight`). Other 1-dim weights — e.g. DeepLabV3's head BatchNorms at
///   index 2 (`classifier.classifier.2`, `…convs.4.2`) — get 0.1·u like biases (inferred from
///   the case's data: only this rule reproduces its BatchNorm statistics);
/// - running_mean 0.1·u, running_var 1 + 0.5·|u|, num_batches_tracked 0;
/// - biases and every other 1-dim tensor (rel_pos, pos_embed, embeddings): 0.1·u.
public enum FormulaWeights {
    public static func generate(_ entries: [(name: String, shape: [Int])], seed: Int = 0) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, e) in entries.enumerated() {
            let n = ShapeMath.count(e.shape)
            var v = [Float](repeating: 0, count: n)
            let base = Double(i) * 0.1234567 + Double(seed) * 0.01
            let fanIn = e.shape.isEmpty ? 1 : n / max(e.shape[0], 1)
            enum Kind { case zero, mean, variance, fan, norm, small }
            let kind: Kind
            if e.name.hasSuffix("num_batches_tracked") { kind = .zero }
            else if e.name.hasSuffix("running_mean") { kind = .mean }
            else if e.name.hasSuffix("running_var") { kind = .variance }
            else if e.shape.count >= 2 && !isEmbeddingLike(e.name) { kind = .fan }
            else if e.shape.count == 1 && isNormWeight(e.name) { kind = .norm }
            else { kind = .small }
            let a = (3 / Double(fanIn)).squareRoot()
            for j in 0..<n {
                let t = Double(j) * 0.6180339887498949 + base
                let u = 2 * (t - t.rounded(.down)) - 1
                switch kind {
                case .zero: v[j] = 0
                case .mean: v[j] = Float(0.1 * u)
                case .variance: v[j] = Float(1 + 0.5 * abs(u))
                case .fan: v[j] = Float(a * u)
                case .norm: v[j] = Float(1 + 0.1 * u)
                case .small: v[j] = Float(0.1 * u)
                }
            }
            out[e.name] = Tensor(shape: e.shape, v)
        }
        return out
    }

    static func isNormWeight(_ name: String) -> Bool {
        guard name.hasSuffix(".weight") else { return false }
        let module = String(name.dropLast(".weight".count))
        let last = module.split(separator: ".").last.map(String.init) ?? module
        return last.contains("bn") || last.contains("norm") || last == "1"
    }

    static func isEmbeddingLike(_ name: String) -> Bool {
        name.contains("rel_pos") || name.contains("pos_embed") || name.hasSuffix("embed.weight") || name.contains("embeddings")
            || name.contains("_token") || name.contains("tokens")
    }
}
