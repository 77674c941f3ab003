import Tensor

/// The pre-1.6 stream format (`_use_new_zipfile_serialization=False`), back to back:
///
/// ```
/// pickle  magic number 0x1950a86a20f9469cfc6c
/// pickle  protocol version (1001)
/// pickle  sys info {'protocol_version', 'little_endian', 'type_sizes'}
/// pickle  the object, storages as persistent ids ('storage', cls, key, location, numel, view)
/// pickle  list of storage keys, in the order their bytes follow
/// per key: int64 element count (little-endian), then count × element-size bytes (little-endian)
/// ```
enum PthLegacy {
    /// PROTO 2, LONG1 of 10 bytes holding the magic number, STOP.
    static let magicPickle: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    static func read(_ bytes: [UInt8], name: String, options: PthOptions) throws -> PthCheckpoint {
        guard bytes.starts(with: magicPickle) else {
            throw SamdgError(name, "legacy torch.save magic number missing at byte 0")
        }
        let resolver = TorchResolver(options: options)
        var position = magicPickle.count
        var graph: [PObj] = []
        defer { PObj.dismantle(graph) }

        func pickle(_ what: String) throws -> PObj {
            var u = Unpickler(bytes, at: position, place: "\(name) (legacy \(what) pickle at byte \(position))", resolver: resolver)
            let v = try u.load()
            graph += [v] + u.takeLeftovers()
            position = u.position
            return v
        }

        guard case .int(let version) = try pickle("protocol version"), version == 1001 else {
            throw SamdgError(name, "legacy protocol version is not 1001; expected a torch.save legacy stream")
        }
        _ = try pickle("sys info")
        let mainPlace = "\(name) (legacy object pickle at byte \(position))"
        let object = try pickle("object")
        let keysObj = try pickle("storage key list")
        guard case .list(let keyList) = keysObj else {
            throw SamdgError(name, "legacy storage key list is \(keysObj.kindName); expected a list of strings")
        }

        // Storage records follow in key-list order.
        var storages: [String: [UInt8]] = [:]
        var reader = ByteReader(bytes, at: position)
        for k in keyList.items {
            guard case .string(let key) = k else {
                throw SamdgError(name, "legacy storage key is \(k.kindName); expected a string")
            }
            guard let root = resolver.roots[key] else {
                throw SamdgError(name, "legacy storage key '\(key)' is not referenced by the object pickle; cannot tell its element size")
            }
            let at = reader.position
            do {
                let n = try reader.intLE(8, "the element count of storage '\(key)'")
                let (size, o) = Int(n).multipliedReportingOverflow(by: root.dtype.size)
                guard n >= 0, !o else {
                    throw PickleFault("storage '\(key)' declares \(n) elements at byte \(at)")
                }
                guard n >= root.numel else {
                    throw PickleFault("storage '\(key)' record at byte \(at) holds \(n) elements; the pickle declares \(root.numel)")
                }
                storages[key] = Array(try reader.take(size, "storage '\(key)' (\(n) × \(root.dtype.size) bytes)"))
            } catch let f as PickleFault {
                throw SamdgError(name, "legacy storage data: \(f.message)")
            }
        }

        // The stream format converts storages to little-endian on write.
        var decoder = PthDecoder(place: mainPlace, littleEndian: true) { s in
            guard let b = storages[s.key] else {
                throw SamdgError(name, "storage '\(s.key)' (\(s.storageClass), \(s.numel) elements) has no data record after the key list")
            }
            return b
        }
        return PthCheckpoint(path: name, format: .legacy, root: try decoder.value(object))
    }
}
