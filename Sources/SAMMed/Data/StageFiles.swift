import Foundation
import H5
import Tensor

/// Small helpers for the HDF5 and JSON files stages hand each other.
enum StageFiles {
    /// Writes named tensors into one HDF5 file atomically (datasets by path, e.g. "val/probs").
    static func writeH5(_ path: String, _ tensors: [(String, Tensor)], attributes: [String: String] = [:]) throws {
        try AtomicFile.replace(path) { tmp in
            let f = try H5File.create(tmp, overwrite: true)
            for (name, t) in tensors { try f.write(t, at: name) }
            for (k, v) in attributes.sorted(by: { $0.key < $1.key }) { try f.setAttribute(k, v) }
            try f.close()
        }
    }

    static func readH5(_ path: String, _ name: String, place: String) throws -> Tensor {
        let f = try H5File.open(path)
        defer { try? f.close() }
        do { return try f.read(name) } catch let e as SamdgError {
            throw SamdgError("\(place): \(path)", "dataset \(name): \(e.message)")
        }
    }

    static func writeJSON(_ path: String, _ object: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: path)
    }

    static func readJSON(_ path: String, place: String) throws -> [String: Any] {
        guard let d = FileManager.default.contents(atPath: path),
              let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else {
            throw SamdgError("\(place): \(path)", "expected a JSON object")
        }
        return o
    }
}

/// The source-domain split every stage agrees on (written by the `split` stage): indices into
/// the source domain file, and the target domains.
public struct SourceSplit: Codable, Equatable {
    public let source: String
    public let train: [Int]
    public let val: [Int]
    public let targets: [String]

    /// A seeded shuffle of 0..<count; the first ⌈fraction·count⌉ go to validation.
    public static func make(source: String, count: Int, valFraction: Double, seed: UInt64, targets: [String]) throws -> SourceSplit {
        guard count >= 2 else { throw SamdgError("split: domain \(source)", "needs at least 2 images, has \(count)") }
        guard valFraction > 0, valFraction < 1 else { throw SamdgError("split: val_fraction", "expected a value in (0, 1), got \(valFraction)") }
        let order = seededPermutation(count, seed: seed)
        let nVal = min(count - 1, max(1, Int((valFraction * Double(count)).rounded(.up))))
        return SourceSplit(source: source, train: order[nVal...].sorted(), val: order[..<nVal].sorted(), targets: targets)
    }

    /// Evaluation splits in report order: the source's val split, then each target domain.
    public var evalSplits: [String] { ["source_val"] + targets }

    static func read(_ path: String) throws -> SourceSplit {
        guard let d = FileManager.default.contents(atPath: path), let s = try? JSONDecoder().decode(SourceSplit.self, from: d) else {
            throw SamdgError(path, "not a split file (expected JSON with source, train, val, targets)")
        }
        return s
    }
}

/// A Fisher–Yates shuffle of 0..<count driven by SplitMix64(seed): the one shuffle of the stages
/// (splits, epoch orders), so a seed names an order on every machine.
func seededPermutation(_ count: Int, seed: UInt64) -> [Int] {
    var rng = SplitMix64(seed: seed)
    var order = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
    return order
}
