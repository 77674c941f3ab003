import Tensor
import Primitives
internal import GraphProto

/// Unpacked protobuf-c message tree (`Samdg__Graph`) → Graph; the inverse of `ProtoWriter`.
///
/// Nothing read is trusted: every node is rebuilt through `Graph.add` (operand checks and shape
/// inference) and its stored shape must equal the inferred one; attributes are checked for
/// presence, kind and range before an `Op` is made, so a corrupt file gives a `SamdgError`
/// naming the node and what was expected instead of a crash later on.
struct ProtoReader {
    let place: String

    func graph(from m: Samdg__Graph) throws -> Graph {
        guard m.has_version != 0 else {
            throw SamdgError(place, "no format version: not a samdg graph file (or an empty one)")
        }
        guard m.version == GraphFormat.version else {
            throw SamdgError(place, "format version \(m.version) is not supported; this reader reads version \(GraphFormat.version)")
        }
        guard m.has_node_count != 0, m.has_output_count != 0 else {
            throw SamdgError(place, "truncated: the node and output counts are missing (read \(m.n_nodes) nodes, \(m.n_outputs) outputs)")
        }
        guard m.node_count == UInt64(m.n_nodes), m.output_count == UInt64(m.n_outputs) else {
            throw SamdgError(place, "truncated or corrupt: expected \(m.node_count) nodes and \(m.output_count) outputs, read \(m.n_nodes) and \(m.n_outputs)")
        }
        let g = Graph()
        for i in 0..<m.n_nodes {
            guard let node = m.nodes[i] else { throw SamdgError("\(place) node %\(i)", "node message is missing") }
            try read(node.pointee, index: i, into: g)
        }
        g.currentLabel = nil
        var names = Set<String>()
        for k in 0..<m.n_outputs {
            guard let o = m.outputs[k] else { throw SamdgError("\(place) output #\(k)", "output message is missing") }
            let fail = { (msg: String) in SamdgError("\(self.place) output #\(k)", msg) }
            guard let cName = o.pointee.name else { throw fail("missing output name") }
            let name = try string(cName, "output name", fail)
            guard o.pointee.has_node != 0 else { throw fail("output \"\(name)\" has no node") }
            let id = o.pointee.node
            guard id >= 0, id < Int64(g.nodes.count) else {
                throw fail("output \"\(name)\" refers to node %\(id), expected %0...%\(g.nodes.count - 1)")
            }
            guard names.insert(name).inserted else { throw fail("output name \"\(name)\" appears twice") }
            g.output(name, Value(Int(id)))
        }
        do { try g.verify() } catch let e as SamdgError { throw SamdgError("\(place) \(e.place)", e.message) }
        return g
    }

    private func read(_ n: Samdg__Node, index i: Int, into g: Graph) throws {
        var placeOfNode = "\(place) node %\(i)"
        let early = { (msg: String) in SamdgError(placeOfNode, msg) }
        guard let cOp = n.op else { throw early("missing op name") }
        let kind = try string(cOp, "op name", early)
        let label = try n.label.map { try string($0, "label", early) }
        let inLabel = label.map { " in " + $0 } ?? ""
        placeOfNode += " (\(kind)\(inLabel))"
        let fail = { (msg: String) in SamdgError(placeOfNode, msg) }

        guard let decode = ProtoReader.decoders[kind] else {
            throw fail("unknown op \"\(kind)\"; expected one of \(ProtoReader.decoders.keys.sorted().joined(separator: ", "))")
        }
        let op = try decode(Attributes(node: n, fail: fail))
        placeOfNode = "\(place) node %\(i) (\(op.name)\(inLabel))"   // as Graph.add and verify() name it
        let operands = try ProtoReader.ints(n.n_operands, n.operands, "operands", fail)
        for id in operands where id < 0 || id >= i {
            throw fail(i == 0 ? "operand %\(id) does not exist: the first node can have no operands"
                              : "operand %\(id) does not refer to an earlier node (expected %0...%\(i - 1))")
        }
        let stored = try ProtoReader.ints(n.n_shape, n.shape, "shape", fail)
        try GraphFormat.checkShape(stored, "stored shape", fail)

        g.currentLabel = label
        let v: Value
        do { v = try g.add(op, operands.map(Value.init)) } catch let e as SamdgError {
            throw SamdgError("\(place) \(e.place)", e.message)
        }
        if g.shape(v) != stored {
            throw fail("stored shape \(ShapeMath.describe(stored)) but operands give \(ShapeMath.describe(g.shape(v)))")
        }
    }

    /// A node's attributes, with checked access to the `attributes` oneof and its fields.
    struct Attributes {
        let node: Samdg__Node
        let fail: (String) -> SamdgError

        /// The oneof member `c`, or an error naming the member expected and the one found.
        func expect<T>(_ c: Samdg__Node__AttributesCase, _ get: (Samdg__Node) -> UnsafeMutablePointer<T>?) throws -> T {
            let found = node.attributes_case
            guard found.rawValue == c.rawValue, let p = get(node) else {
                let what = found.rawValue == 0 ? "none" : "\"\(GraphFormat.attributeName(found))\""
                throw fail("expected \"\(GraphFormat.attributeName(c))\" attributes, found \(what)")
            }
            return p.pointee
        }

        /// An optional scalar field that must be present.
        func required<V>(_ has: protobuf_c_boolean, _ value: V, _ name: String) throws -> V {
            guard has != 0 else { throw fail("missing attribute \(name)") }
            return value
        }

        func int(_ has: protobuf_c_boolean, _ value: Int64, _ name: String, atLeast lo: Int = -GraphFormat.intLimit) throws -> Int {
            let v = try required(has, value, name)
            if v < Int64(lo) { throw fail("attribute \(name) = \(v), expected at least \(lo)") }
            if v > Int64(GraphFormat.intLimit) { throw fail("attribute \(name) = \(v) exceeds \(GraphFormat.intLimit)") }
            return Int(v)
        }

        func ints(_ n: Int, _ p: UnsafeMutablePointer<Int64>?, _ name: String) throws -> [Int] {
            try ProtoReader.ints(n, p, name, fail)
        }

        /// A shape-valued attribute: non-negative dimensions.
        func shape(_ n: Int, _ p: UnsafeMutablePointer<Int64>?, _ name: String) throws -> [Int] {
            let s = try ints(n, p, name)
            try GraphFormat.checkShape(s, name, fail)
            return s
        }

        func bool(_ has: protobuf_c_boolean, _ value: protobuf_c_boolean, _ name: String) throws -> Bool {
            try required(has, value, name) != 0
        }

        /// An enum field's value from `table`, or an error listing the values the format defines.
        func enumValue<E>(_ has: protobuf_c_boolean, _ raw: UInt32, _ name: String, _ descriptor: ProtobufCEnumDescriptor,
                          _ table: [(UInt32, E)]) throws -> E {
            _ = try required(has, raw, name)
            if let e = table.first(where: { $0.0 == raw }) { return e.1 }
            let known = table.compactMap { GraphFormat.enumName(descriptor, $0.0) }.joined(separator: ", ")
            throw fail("unknown \(name) value \(raw)\(GraphFormat.enumName(descriptor, raw).map { " (\($0))" } ?? ""); expected one of \(known)")
        }
    }

    static func ints(_ n: Int, _ p: UnsafeMutablePointer<Int64>?, _ name: String,
                     _ fail: (String) -> SamdgError) throws -> [Int] {
        if n == 0 { return [] }
        guard let p else { throw fail("\(name): \(n) values announced but none stored") }
        let xs = (0..<n).map { Int(p[$0]) }
        try GraphFormat.checkInts(xs, name, fail)
        return xs
    }

    private func string(_ p: UnsafePointer<CChar>, _ what: String, _ fail: (String) -> SamdgError) throws -> String {
        guard let s = String(validatingCString: p) else { throw fail("\(what) is not valid UTF-8") }
        return s
    }
}
