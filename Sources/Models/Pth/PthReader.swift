import Foundation
import Tensor

/// How the file was written.
public enum PthFormat: String, Sendable {
    /// `torch.save` since PyTorch 1.6: a zip of `data.pkl` and `data/<key>` storages.
    case zip
    /// `_use_new_zipfile_serialization=False`: pickles and raw storages back to back.
    case legacy
}

/// A decoded `torch.save` file.
public struct PthCheckpoint {
    public let path: String
    public let format: PthFormat
    /// The saved object (usually a dict; a bare `state_dict` is an ordered dict of tensors).
    public let root: PickleValue

    /// See `PickleValue.tensors(stripping:)`.
    public func tensors(stripping prefixes: [String] = []) -> [(key: String, tensor: PthTensor)] {
        root.tensors(stripping: prefixes)
    }

    /// See `PickleValue.stateDict(stripping:)`.
    public func stateDict(stripping prefixes: [String] = []) throws -> [String: Tensor] {
        do { return try root.stateDict(stripping: prefixes) } catch let e as SamdgError {
            throw SamdgError(path, e.message)
        }
    }
}

/// Reads PyTorch checkpoints (`torch.save`) without Python: the zip format and the legacy
/// stream format, with a pickle machine of our own (`Unpickler`) that only rebuilds tensors,
/// storages and plain containers — never arbitrary classes.
///
/// ```swift
/// let ckpt = try PthReader.read(path: "sam_vit_b_01ec64.pth")
/// let weights = try ckpt.stateDict()               // [String: Tensor], float32 for half/bf16
/// print(ckpt.root["epoch"]?.intValue ?? -1)
/// ```
public enum PthReader {
    public static func read(path: String, options: PthOptions = PthOptions()) throws -> PthCheckpoint {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SamdgError(path, "cannot open the file; expected a readable torch.save checkpoint")
        }
        let head = [UInt8](handle.readData(ofLength: 16))
        try? handle.close()
        switch try sniff(head, name: path) {
        case .zip:
            return try PthZip.read(url: URL(fileURLWithPath: path), name: path, options: options)
        case .legacy:
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SamdgError(path, "cannot read the file")
            }
            return try PthLegacy.read([UInt8](data), name: path, options: options)
        }
    }

    /// Reads a checkpoint held in memory; `name` is used in error messages.
    public static func read(bytes: [UInt8], name: String, options: PthOptions = PthOptions()) throws -> PthCheckpoint {
        switch try sniff(Array(bytes.prefix(16)), name: name) {
        case .zip: return try PthZip.read(data: Data(bytes), name: name, options: options)
        case .legacy: return try PthLegacy.read(bytes, name: name, options: options)
        }
    }

    /// Decodes one torch pickle (the contents of a `data.pkl`) on its own, with storage bytes
    /// supplied by key (little-endian). For tools and tests; `name` is used in error messages.
    public static func unpickle(_ pickle: [UInt8], name: String, storages: [String: [UInt8]] = [:],
                                options: PthOptions = PthOptions()) throws -> PickleValue {
        var unpickler = Unpickler(pickle, place: name, resolver: TorchResolver(options: options))
        let object = try unpickler.load()
        let graph = [object] + unpickler.takeLeftovers()
        defer { PObj.dismantle(graph) }
        var decoder = PthDecoder(place: name, littleEndian: true) { s in
            guard let b = storages[s.key] else {
                throw SamdgError(name, "storage '\(s.key)' (\(s.storageClass), \(s.numel) elements) was not supplied")
            }
            return b
        }
        return try decoder.value(object)
    }

    /// Zip local-file (or empty-archive) signature, or the legacy magic-number pickle.
    static func sniff(_ head: [UInt8], name: String) throws -> PthFormat {
        if head.count >= 4, head[0] == 0x50, head[1] == 0x4B, (head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6) {
            return .zip
        }
        if head.starts(with: PthLegacy.magicPickle) { return .legacy }
        if head.isEmpty { throw SamdgError(name, "the file is empty; expected a torch.save checkpoint") }
        let shown = head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        if head.first == 0x80 {
            throw SamdgError(name, "a pickle without torch's legacy magic number (first bytes \(shown)); expected a torch.save checkpoint")
        }
        throw SamdgError(name, "neither a zip archive (torch.save since 1.6) nor a legacy torch.save stream: first bytes are \(shown)")
    }
}
