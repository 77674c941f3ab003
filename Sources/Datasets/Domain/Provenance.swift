import Foundation
import Tensor

/// Where a domain file's samples came from, stored as JSON in its `provenance` attribute.
/// It holds no timestamps, host names or process ids, so importing the same input with the
/// same options gives the same bytes.
///
/// ```json
/// {"counts":{"pairs":36,"samples":35,"skipped":1},"format":"folder",
///  "options":{"mask_rule":"union:R,G>127","on_error":"skip"},
///  "skipped":[{"file":"masks/10031_7.png","reason":"no image with the same base name"}],
///  "source":"../shared/data/prostate/prostate158-mini"}
/// ```
public struct Provenance: Codable, Equatable, Sendable {
    /// The folder or file imported, as given.
    public var source: String
    /// The importer (`saml`, `folder`, `nifti`) or generator (`phantom`).
    public var format: String
    /// The options that shaped the result, as text.
    public var options: [String: String]
    /// What was found and kept (`pairs`, `samples`, `skipped`, …).
    public var counts: [String: Int]
    /// Files left out in skip mode, with the reason, in the order met.
    public var skipped: [SkippedFile]

    public init(source: String, format: String, options: [String: String] = [:],
                counts: [String: Int] = [:], skipped: [SkippedFile] = []) {
        self.source = source
        self.format = format
        self.options = options
        self.counts = counts
        self.skipped = skipped
    }

    /// Compact JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Parses the JSON of a `provenance` attribute; `place` names it in errors.
    public static func parse(_ json: String, place: String) throws -> Provenance {
        do {
            return try JSONDecoder().decode(Provenance.self, from: Data(json.utf8))
        } catch {
            throw SamdgError(place, "is not a provenance record (expected JSON with source, format, options, counts, skipped): \(error)")
        }
    }
}

/// A file an importer left out, and why.
public struct SkippedFile: Codable, Equatable, Sendable {
    /// Path relative to the imported folder.
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }
}
