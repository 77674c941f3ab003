import Foundation
import Tensor

/// Collects an importer's samples into one domain: checks each image/mask pair, applies the
/// mask rule, the size policy and `foregroundOnly`, records or rethrows bad files (``OnError``)
/// and builds the ``DomainData`` with its provenance.
///
/// Samples go straight into two growing buffers, so memory peaks near the final tensors' size.
struct DomainBuilder {
    let format: ImportFormat
    let source: String
    let options: ImportOptions
    let rule: MaskRule
    private(set) var ids: [String] = []
    private(set) var skipped: [SkippedFile] = []
    var counts: [String: Int] = [:]
    private var images: SampleStack?
    private var masks: SampleStack?
    /// The first sample's size and id, which every other sample must share when no size is set.
    private var reference: (h: Int, w: Int, id: String)?
    private var mismatched: [(file: String, h: Int, w: Int)] = []
    private let capacityHint: Int

    init(format: ImportFormat, source: String, options: ImportOptions, capacityHint: Int) {
        self.format = format
        self.source = source
        self.options = options
        self.rule = options.maskRule ?? format.defaultMaskRule
        self.capacityHint = max(1, min(capacityHint, options.limit ?? capacityHint))
    }

    /// Whether `limit` samples are in.
    var isFull: Bool { options.limit.map { ids.count >= $0 } ?? false }

    /// `path` relative to the source folder, for provenance.
    func relative(_ path: String) -> String {
        let base = source.hasSuffix("/") ? source : source + "/"
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
    }

    /// Runs `body` (the work on one pair of `files`, image first). A `SamdgError` in it stops
    /// the import (`.stop`) or is recorded (`.skip`) against the file it names, or the first
    /// file when it names neither.
    mutating func attempt(files: [String], _ body: (inout DomainBuilder) throws -> Void) throws {
        do {
            try body(&self)
        } catch let error as SamdgError {
            if files.contains(error.place) {
                try record(file: error.place, reason: error.message, error: error)
            } else {
                let named = SamdgError(files[0], "\(error.place): \(error.message)")
                try record(file: files[0], reason: named.message, error: named)
            }
        }
    }

    /// Walks paired files until the limit: unpaired files are recorded (or stop the import),
    /// each pair is counted under `countKey` and handed to `add` through ``attempt(files:_:)``.
    mutating func consume(_ entries: [PairingEntry], countKey: String,
                          _ add: (inout DomainBuilder, _ id: String, _ image: String, _ mask: String) throws -> Void) throws {
        for entry in entries {
            if isFull { break }
            switch entry {
            case .unpaired(let file, let reason):
                try record(file: file, reason: reason)
            case .pair(let id, let imageFile, let maskFile):
                counts[countKey, default: 0] += 1
                try attempt(files: [imageFile, maskFile]) { b in try add(&b, id, imageFile, maskFile) }
            }
        }
    }

    /// A bad file: thrown in stop mode, recorded in skip mode.
    mutating func record(file: String, reason: String, error: SamdgError? = nil) throws {
        if options.onError == .stop {
            throw error ?? SamdgError(file, "\(reason) [on-error stop; use skip to leave it out]")
        }
        skipped.append(SkippedFile(file: relative(file), reason: reason))
    }

    /// Adds one sample. `image` is float32 `[H, W, C]` (C 1 or 3), `maskPixels` float32
    /// `[H, W, C]`; the files name the sample in errors.
    mutating func add(id: String, image: Tensor, maskPixels: Tensor, imageFile: String, maskFile: String) throws {
        guard image.rank == 3, [1, 3].contains(image.shape[2]) else {
            throw SamdgError(imageFile, "image of shape \(ShapeMath.describe(image.shape)) (expected [H, W], [H, W, 1] or [H, W, 3])")
        }
        let (h, w) = (image.shape[0], image.shape[1])
        guard h > 0, w > 0 else { throw SamdgError(imageFile, "empty image \(ShapeMath.describe(image.shape))") }
        guard maskPixels.rank == 3, maskPixels.shape[0] == h, maskPixels.shape[1] == w else {
            throw SamdgError(maskFile, "mask of shape \(ShapeMath.describe(maskPixels.shape)) does not match its image \(relative(imageFile)) of \(h)×\(w) (expected the same height and width)")
        }
        var mask = try rule.apply(maskPixels, place: maskFile)
        if options.foregroundOnly && !mask.buffer(UInt8.self).contains(1) {
            counts["background_dropped", default: 0] += 1
            return
        }
        var rgb = image.shape[2] == 3 ? image : Self.replicate(image)
        if let s = options.size {
            if h != s || w != s {
                rgb = try Prep.cvResize(rgb, width: s, height: s)
                mask = try Prep.nearestResize(mask, width: s, height: s)
                counts["resized", default: 0] += 1
            }
        } else if let r = reference {
            guard r.h == h, r.w == w else {
                if mismatched.last?.file != relative(imageFile) { mismatched.append((relative(imageFile), h, w)) }
                return
            }
        } else {
            reference = (h, w, id)
        }
        if images == nil {
            images = SampleStack(sampleShape: rgb.shape, dtype: .float32, capacity: capacityHint)
            masks = SampleStack(sampleShape: mask.shape, dtype: .uint8, capacity: capacityHint)
        }
        images!.append(rgb)
        masks!.append(mask)
        ids.append(id)
    }

    /// Gray `[H, W, 1]` → `[H, W, 3]`.
    static func replicate(_ gray: Tensor) -> Tensor {
        let n = gray.shape[0] * gray.shape[1]
        let out = Tensor(uninitialized: [gray.shape[0], gray.shape[1], 3])
        let s = gray.floats, d = out.floats
        for i in 0..<n { d[3 * i] = s[i]; d[3 * i + 1] = s[i]; d[3 * i + 2] = s[i] }
        return out
    }

    /// The domain, or an error when sizes disagree or nothing was imported.
    func finish(subdirs: (images: String, masks: String)?) throws -> DomainData {
        if let r = reference, !mismatched.isEmpty {
            let list = mismatched.prefix(20).map { "\($0.file) (\($0.h)×\($0.w))" }.joined(separator: ", ")
            let more = mismatched.count > 20 ? " and \(mismatched.count - 20) more" : ""
            throw SamdgError(source, "\(mismatched.count) image(s) differ in size from the first, \(r.id) (\(r.h)×\(r.w)): \(list)\(more) (expected one size per domain; pass a size option to resize them)")
        }
        guard let images, let masks, !ids.isEmpty else {
            let why = skipped.isEmpty ? "" : "; \(skipped.count) file(s) skipped, the first: \(skipped[0].file): \(skipped[0].reason)"
            throw SamdgError(source, "no samples imported (expected image/mask pairs in the \(format.rawValue) layout\(why))")
        }
        var counts = self.counts
        counts["samples"] = ids.count
        counts["skipped"] = skipped.count
        let provenance = Provenance(source: source, format: format.rawValue,
                                    options: options.described(for: format, rule: rule, subdirs: subdirs),
                                    counts: counts, skipped: skipped)
        return try DomainData(domain: options.domain, ids: ids, images: images.tensor, masks: masks.tensor,
                              attributes: DomainAttributes(format: format.rawValue, maskRule: rule.description,
                                                           provenance: provenance),
                              place: source)
    }
}

/// Equal-shaped samples appended into one buffer that doubles when full.
struct SampleStack {
    let sampleShape: [Int]
    let dtype: DType
    private(set) var count = 0
    private var storage: Storage
    private var capacity: Int
    private var sampleBytes: Int { ShapeMath.count(sampleShape) * dtype.size }

    init(sampleShape: [Int], dtype: DType, capacity: Int) {
        self.sampleShape = sampleShape
        self.dtype = dtype
        self.capacity = max(1, capacity)
        storage = Storage(byteCount: self.capacity * ShapeMath.count(sampleShape) * dtype.size, zeroed: false)
    }

    mutating func append(_ t: Tensor) {
        precondition(t.shape == sampleShape && t.dtype == dtype, "SampleStack: sample shape changed")
        if count == capacity {
            let grown = Storage(byteCount: 2 * capacity * sampleBytes, zeroed: false)
            grown.raw.copyMemory(from: storage.raw, byteCount: count * sampleBytes)
            storage = grown
            capacity *= 2
        }
        (storage.raw + count * sampleBytes).copyMemory(from: t.storage.raw, byteCount: sampleBytes)
        count += 1
    }

    /// `[count] + sampleShape`, sharing the buffer.
    var tensor: Tensor { Tensor(shape: [count] + sampleShape, dtype: dtype, storage: storage) }
}
