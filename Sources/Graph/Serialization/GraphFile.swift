import Foundation
import Tensor
internal import GraphProto

/// Reading and writing graphs in the project's protobuf format (`proto/samdg_graph.proto`,
/// packed and unpacked by protobuf-c).
///
/// ```swift
/// try graph.write(to: "runs/model.samdg")            // temp file + rename
/// let again = try Graph.load(path: "runs/model.samdg")
/// assert(again.structuralHash == graph.structuralHash && again.text == graph.text)
/// ```
///
/// Loading rebuilds every node through shape inference and rejects anything that does not
/// check out (unknown op, missing attribute, bad operand, wrong stored shape, truncated bytes)
/// with a `SamdgError` naming the file and node.
extension Graph {
    /// The graph as protobuf bytes: nodes with labels, attributes and shapes, then named outputs.
    public func serialized() throws -> [UInt8] { try serialized(place: "<graph>") }

    func serialized(place: String) throws -> [UInt8] {
        let c = CAllocations()
        return try withExtendedLifetime(c) {
            let message = try ProtoWriter(c: c, place: place).message(for: self)
            let size = samdg__graph__get_packed_size(message)
            var bytes = [UInt8](repeating: 0, count: size)
            let written = bytes.withUnsafeMutableBufferPointer { samdg__graph__pack(message, $0.baseAddress) }
            guard written == size else {
                throw SamdgError(place, "protobuf-c packed \(written) bytes where it announced \(size)")
            }
            return bytes
        }
    }

    /// Rebuilds a graph from `serialized()` bytes; `place` (a file name) prefixes every error.
    public static func deserialize(_ bytes: [UInt8], place: String = "<graph>") throws -> Graph {
        if bytes.isEmpty { throw SamdgError(place, "empty: no graph data") }
        let unpacked = bytes.withUnsafeBufferPointer { samdg__graph__unpack(nil, $0.count, $0.baseAddress) }
        guard let message = unpacked else {
            throw SamdgError(place, "not a samdg graph: the protobuf data (\(bytes.count) bytes) is truncated or corrupt")
        }
        defer { samdg__graph__free_unpacked(message, nil) }
        return try ProtoReader(place: place).graph(from: message.pointee)
    }

    /// Writes `serialized()` to `path` atomically (temporary file, then rename).
    public func write(to path: String) throws {
        try AtomicFile.write(Data(serialized(place: path)), to: path)
    }

    /// Reads a graph written by `write(to:)`.
    public static func load(path: String) throws -> Graph {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw SamdgError(path, "cannot read graph file: \(error.localizedDescription)")
        }
        return try deserialize([UInt8](data), place: path)
    }
}
