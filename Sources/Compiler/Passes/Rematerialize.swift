import Graph
import Primitives
import Tensor

/// Rematerialisation (Graph → Graph, training graphs): forward values that backward reads and
/// that a few elementwise ops recompute from values backward keeps anyway are recomputed in
/// backward instead of being kept from the forward pass.
///
/// Why: in a conv → BatchNorm → ReLU network backward reads two full-size values per layer, the
/// centred BatchNorm input xc (for the variance's and the scale's gradients) and the ReLU output r
/// (for the ReLU's gradient and the next convolution's weight gradient). r = relu(xc·s + β) with
/// s, β per channel, so keeping xc alone and recomputing r when backward reaches it halves the
/// activations held between the passes (the trade of in-place activated BatchNorm), for one
/// extra elementwise pass per layer.
///
/// Algorithm note. Input: the graph and `forwardCount`, the number of nodes before autodiff
/// appended the backward ones (nodes are topologically ordered; forward nodes come first).
/// 1. `kept`: forward values some backward node reads.
/// 2. A candidate is a kept elementwise forward value (unary, binary, reshape, broadcast) of at
///    least `minCount` elements whose recompute chain — its elementwise ancestors, stopping at
///    leaves: kept values, bindings and constants, and values at most 1/8 its size — has at most
///    `maxChain` nodes and no other kind of op.
/// 3. Rebuild in order. Forward nodes are copied. Before the first backward node that reads a
///    candidate, its chain is emitted again (leaves that are candidates themselves read their own
///    recomputed copy, emitted first), and every backward reader reads the copy. The forward
///    value is then released after its last forward reader.
/// 4. Expanding 1×1 convolutions (`recomputableConv`) may sit in a chain too: a bottleneck's last
///    conv (256 → 1024 channels in ResNet-50's layer3) writes a value 4× the size of its input,
///    which backward keeps anyway (for that conv's weight gradient). Recomputing it costs Cin
///    multiply-adds per element, so only convs with Cin·2 FLOPs ≤ `maxFlopsPerByte` × 4 bytes
///    saved qualify: ResNet-50's layer1–3 (Cin ≤ 256; ~34 GFLOP for ~370 MB at 2×512²), not
///    layer4 (Cin 512).
/// Values change by nothing: the copy runs the same ops on the same operands. The copies carry
/// the label prefix `remat`, so `cse` does not merge them back into the originals.
public enum Rematerialize {
    public static let name = "rematerialize"
    static let minCount = 1 << 16
    static let maxChain = 8
    /// Label prefix of the recomputed copies; `cse` leaves such nodes alone.
    public static let labelPrefix = "remat"
    /// Recompute FLOPs allowed per byte of activation memory saved (convolutions).
    static let maxFlopsPerByte = 128

    public static func apply(_ g: Graph, forwardCount f: Int) throws -> Graph {
        let n = g.nodes.count
        guard f > 0, f < n else { return g }
        var kept = [Bool](repeating: false, count: f)
        for i in f..<n { for v in g.nodes[i].inputs where v.id < f { kept[v.id] = true } }
        func count(_ i: Int) -> Int { ShapeMath.count(g.nodes[i].shape) }
        func elementwise(_ op: Op) -> Bool {
            switch op {
            case .unary, .binary, .reshape, .broadcast: return true
            default: return false
            }
        }
        func binding(_ op: Op) -> Bool {
            switch op {
            case .input, .parameter, .constant: return true
            default: return false
            }
        }
        /// A 1×1 stride-1 ungrouped conv of a parameter that at least doubles its input's size and
        /// costs at most `maxFlopsPerByte` per byte of its output.
        func recomputableConv(_ v: Int) -> Bool {
            let node = g.nodes[v]
            guard case .conv2d(let geo) = node.op, node.inputs.count == 2, geo.groups == 1,
                  geo.strideH == 1, geo.strideW == 1, geo.padH == 0, geo.padW == 0 else { return false }
            let x = node.inputs[0].id, w = node.inputs[1].id
            let ws = g.nodes[w].shape
            guard binding(g.nodes[w].op), ws.count == 4, ws[2] == 1, ws[3] == 1 else { return false }
            return count(v) >= 2 * count(x) && 2 * ws[1] <= maxFlopsPerByte * 4
        }
        // 2. candidates and their chains (topological order, ending with the candidate)
        var chains: [Int: [Int]] = [:]
        for r in 0..<f where kept[r] && (elementwise(g.nodes[r].op) || recomputableConv(r)) && count(r) >= minCount {
            var chain: [Int] = [], seen = Set<Int>(), ok = true
            func visit(_ v: Int) {
                if !ok || seen.contains(v) { return }
                seen.insert(v)
                let node = g.nodes[v]
                if v != r && (kept[v] || binding(node.op) || 8 * count(v) <= count(r)) { return }   // a leaf
                guard elementwise(node.op) || recomputableConv(v), chain.count < maxChain else { ok = false; return }
                for i in node.inputs { visit(i.id) }
                chain.append(v)
            }
            visit(r)
            if ok { chains[r] = chain }
        }
        if chains.isEmpty { return g }

        // 3. rebuild
        let out = Graph()
        var map: [Value] = []
        map.reserveCapacity(n)
        var copy: [Int: Value] = [:]
        func recompute(_ r: Int) throws -> Value {
            if let c = copy[r] { return c }
            var local: [Int: Value] = [:]
            for v in chains[r]! {
                let node = g.nodes[v]
                var ins: [Value] = []
                for i in node.inputs {
                    if let l = local[i.id] { ins.append(l) } else if chains[i.id] != nil { ins.append(try recompute(i.id)) } else { ins.append(map[i.id]) }
                }
                out.currentLabel = labelPrefix + (node.label.map { " " + $0 } ?? "")
                local[v] = try out.add(node.op, ins)
            }
            copy[r] = local[r]!
            return local[r]!
        }
        for (i, node) in g.nodes.enumerated() {
            var ins: [Value] = []
            for v in node.inputs {
                if i >= f, chains[v.id] != nil { ins.append(try recompute(v.id)) } else { ins.append(map[v.id]) }
            }
            out.currentLabel = node.label
            map.append(try out.add(node.op, ins))
        }
        out.currentLabel = nil
        for (name, v) in g.outputs { out.output(name, map[v.id]) }
        return out
    }
}
