import Tensor
import Primitives

/// An SSA value: the result of node `id` of its graph.
public struct Value: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let id: Int
    public init(_ id: Int) { self.id = id }
    public static func < (a: Value, b: Value) -> Bool { a.id < b.id }
    public var description: String { "%\(id)" }
}

/// One operation applied to earlier values. Nodes are append-only, so node order is a
/// topological order.
public struct Node: Hashable, Sendable {
    public let op: Op
    public let inputs: [Value]
    public let shape: [Int]
    /// Optional label (a model's layer path), printed and kept by the serialiser.
    public var label: String?
}

/// A static-shape, single-assignment op graph. Build it with the DSL methods
/// (`input`, `parameter`, `conv2d`, `add`, …), each of which checks shapes at once:
///
/// ```swift
/// let g = Graph()
/// let x = g.input("x", [1, 3, 8, 8])
/// let w = g.parameter("w", [4, 3, 3, 3])
/// let y = try g.relu(g.conv2d(x, w, ConvGeometry(padding: 1)))
/// g.output("y", y)
/// ```
public final class Graph: @unchecked Sendable {
    public private(set) var nodes: [Node] = []
    /// Named results, in declaration order.
    public private(set) var outputs: [(name: String, value: Value)] = []
    /// Label given to nodes created from now on (set by model builders for error messages).
    public var currentLabel: String?
    /// Memo of `zeroSumAxes` (nodes never change once added).
    var zeroSumCache: [Int: Set<Int>] = [:]

    public init() {}

    public subscript(_ v: Value) -> Node { nodes[v.id] }
    public func shape(_ v: Value) -> [Int] { nodes[v.id].shape }

    /// Appends a node after inferring and checking its shape.
    @discardableResult
    public func add(_ op: Op, _ inputs: [Value]) throws -> Value {
        for v in inputs where v.id < 0 || v.id >= nodes.count {
            throw SamdgError("node %\(nodes.count) (\(op.name))", "operand \(v) does not exist")
        }
        let shapes = inputs.map { nodes[$0.id].shape }
        let shape: [Int]
        do {
            shape = try op.inferShape(shapes)
        } catch let e as ShapeError {
            let where_ = "node %\(nodes.count) (\(op.name)\(currentLabel.map { " in " + $0 } ?? ""))"
            throw SamdgError(where_, "\(e.message); operand shapes \(shapes.map(ShapeMath.describe).joined(separator: ", "))")
        }
        nodes.append(Node(op: op, inputs: inputs, shape: shape, label: currentLabel))
        return Value(nodes.count - 1)
    }

    /// Appends a node whose shape is already known to be valid (used by deserialisation after
    /// re-inference, and by passes that rebuild graphs).
    func appendUnchecked(_ node: Node) -> Value {
        nodes.append(node)
        return Value(nodes.count - 1)
    }

    public func output(_ name: String, _ v: Value) {
        outputs.removeAll { $0.name == name }
        outputs.append((name, v))
    }

    public func outputValue(_ name: String) -> Value? { outputs.first { $0.name == name }?.value }

    /// Graph inputs (activations, labels) by name.
    public var inputs: [(name: String, value: Value)] {
        nodes.indices.compactMap { i in
            if case .input(let n, _) = nodes[i].op { return (n, Value(i)) }
            return nil
        }
    }

    /// Trainable or frozen parameters by name.
    public var parameters: [(name: String, value: Value)] {
        nodes.indices.compactMap { i in
            if case .parameter(let n, _) = nodes[i].op { return (n, Value(i)) }
            return nil
        }
    }

    public func inputValue(_ name: String) -> Value? { inputs.first { $0.name == name }?.value }
    public func parameterValue(_ name: String) -> Value? { parameters.first { $0.name == name }?.value }
}
