/// A tiny protobuf wire-format writer for hand-made (often deliberately broken) graph files,
/// independent of protobuf-c so the tests also check the format against the spec'd encoding.
/// Field numbers follow `proto/samdg_graph.proto`.
struct Wire {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    private mutating func tag(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    /// int64 / uint32 / uint64 / bool / enum (varint; negative values as 10-byte two's complement).
    mutating func int(_ field: Int, _ v: Int64) { tag(field, 0); varint(UInt64(bitPattern: v)) }
    mutating func float(_ field: Int, _ v: Float) {
        tag(field, 5)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func data(_ field: Int, _ d: [UInt8]) { tag(field, 2); varint(UInt64(d.count)); bytes.append(contentsOf: d) }
    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: Wire) { data(field, m.bytes) }
    mutating func packed(_ field: Int, _ xs: [Int]) {
        var inner = Wire()
        for x in xs { inner.varint(UInt64(bitPattern: Int64(x))) }
        data(field, inner.bytes)
    }

    // MARK: samdg messages

    /// A `Node`: `attr` is (oneof field number, attribute message), e.g. (10, leaf(...)).
    static func node(_ op: String?, operands: [Int] = [], shape: [Int], label: String? = nil, attr: (Int, Wire)? = nil) -> Wire {
        var w = Wire()
        if let op { w.string(1, op) }
        if !operands.isEmpty { w.packed(2, operands) }
        if !shape.isEmpty { w.packed(3, shape) }
        if let label { w.string(4, label) }
        if let (f, m) = attr { w.message(f, m) }
        return w
    }

    static func leaf(_ name: String, _ shape: [Int]) -> (Int, Wire) {
        var w = Wire()
        w.string(1, name)
        if !shape.isEmpty { w.packed(2, shape) }
        return (10, w)
    }

    /// `UnaryFunction` with an enum value and optional affine parameters.
    static func unary(kind: Int, scale: Float? = nil, shift: Float? = nil) -> (Int, Wire) {
        var w = Wire()
        w.int(1, Int64(kind))
        if let scale { w.float(2, scale) }
        if let shift { w.float(3, shift) }
        return (12, w)
    }

    static func binary(kind: Int) -> (Int, Wire) {
        var w = Wire()
        w.int(1, Int64(kind))
        return (13, w)
    }

    /// `Conv` with a `ConvGeometry` (stride, pad, dilation, groups in order).
    static func conv(stride: Int = 1, pad: Int = 0, dilation: Int = 1, groups: Int = 1) -> (Int, Wire) {
        var g = Wire()
        for (f, v) in [(1, stride), (2, stride), (3, pad), (4, pad), (5, dilation), (6, dilation), (7, groups)] {
            g.int(f, Int64(v))
        }
        var w = Wire()
        w.message(1, g)
        return (23, w)
    }

    static func pool(kernel: Int?, stride: Int, padding: Int) -> (Int, Wire) {
        var w = Wire()
        if let kernel { w.int(1, Int64(kernel)) }
        w.int(2, Int64(stride))
        w.int(3, Int64(padding))
        return (24, w)
    }

    enum Counts { case actual, omitted, claimed(nodes: Int, outputs: Int) }

    /// A whole `Graph` message with the node/output counts written as `counts` says.
    static func graph(version: Int? = 1, nodes: [Wire], outputs: [(String, Int)] = [],
                      counts: Counts = .actual) -> [UInt8] {
        var w = Wire()
        if let version { w.int(1, Int64(version)) }
        for n in nodes { w.message(2, n) }
        for (name, id) in outputs {
            var o = Wire()
            o.string(1, name)
            o.int(2, Int64(id))
            w.message(3, o)
        }
        switch counts {
        case .omitted: break
        case .actual: w.int(4, Int64(nodes.count)); w.int(5, Int64(outputs.count))
        case .claimed(let n, let o): w.int(4, Int64(n)); w.int(5, Int64(o))
        }
        return w.bytes
    }
}
