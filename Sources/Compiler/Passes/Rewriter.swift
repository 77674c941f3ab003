import Graph
import Primitives

/// The node-by-node rebuild the simplification passes share.
///
/// Walks the graph in order; for each node, `decide` sees the node and its operands already mapped
/// into the new graph and answers: keep it (re-emitted with mapped operands), alias it to an
/// existing value of the new graph (the node disappears and its uses read that value), or replace
/// it with another op. Outputs follow the map; labels are kept. A walk that changes nothing
/// returns the input graph itself, so passes that find nothing cost no copy.
enum Rewriter {
    enum Action {
        case keep
        case alias(Value)
        case replace(Op, [Value])
    }

    static func run(_ g: Graph, _ decide: (_ node: Node, _ operands: [Value], _ out: Graph) throws -> Action) throws -> Graph {
        let out = Graph()
        var map: [Value] = []
        map.reserveCapacity(g.nodes.count)
        var changed = false
        for n in g.nodes {
            out.currentLabel = n.label
            let ins = n.inputs.map { map[$0.id] }
            switch try decide(n, ins, out) {
            case .keep:
                map.append(try out.add(n.op, ins))
            case .alias(let v):
                map.append(v); changed = true
            case .replace(let op, let operands):
                map.append(try out.add(op, operands)); changed = true
            }
        }
        if !changed { return g }
        out.currentLabel = nil
        for (name, v) in g.outputs { out.output(name, map[v.id]) }
        return out
    }
}
