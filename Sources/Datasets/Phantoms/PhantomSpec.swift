import Foundation
import Tensor

/// Synthetic "organ" phantoms for segmentation, several domains that differ only in how they
/// are rendered (``DomainShift``): the project's default data for the demo and the tests.
///
/// Everything is drawn from ``SplitMix64`` streams derived from `seed`, the domain's position
/// and the image's index, so a spec always gives the same tensors, and one domain can be
/// generated alone. Each domain gets its own scenes (different "patients"), each image a
/// bright textured organ blob among weaker distractors (``PhantomScene``).
///
/// ```swift
/// let domains = try PhantomSpec(imagesPerDomain: 16, size: 96, seed: 7).generate()
/// for d in domains { try d.write(to: "data/phantoms/\(d.domain).h5") }
/// ```
public struct PhantomSpec: Sendable, Equatable {
    public var domains: [DomainShift]
    public var imagesPerDomain: Int
    public var size: Int
    public var seed: UInt64

    public init(domains: [DomainShift] = DomainShift.defaults, imagesPerDomain: Int = 32, size: Int = 128, seed: UInt64 = 0) {
        self.domains = domains
        self.imagesPerDomain = imagesPerDomain
        self.size = size
        self.seed = seed
    }

    /// Every domain, in order.
    public func generate() throws -> [DomainData] {
        try domains.indices.map { try generate(domain: $0) }
    }

    /// Domain `index` of `domains`.
    public func generate(domain index: Int) throws -> DomainData {
        let place = "PhantomSpec"
        guard domains.indices.contains(index) else {
            throw SamdgError(place, "domain \(index) of \(domains.count) (expected 0..<\(domains.count))")
        }
        guard imagesPerDomain >= 1, imagesPerDomain <= 100_000 else {
            throw SamdgError(place, "imagesPerDomain \(imagesPerDomain) (expected 1…100000)")
        }
        guard size >= 16, size <= 2048 else { throw SamdgError(place, "size \(size) (expected 16…2048)") }
        let names = domains.map(\.name)
        guard Set(names).count == names.count else { throw SamdgError(place, "domain names repeat: \(names) (expected unique names)") }
        let shift = domains[index]
        try shift.validate()

        let (n, s) = (imagesPerDomain, size)
        let images = Tensor(uninitialized: [n, s, s, 3])
        let masks = Tensor(zeros: [n, s, s], dtype: .uint8)
        let digits = max(3, String(n - 1).count)
        var ids: [String] = []
        for i in 0..<n {
            var sceneRNG = SplitMix64(seed: stream(index, i, 1))
            var renderRNG = SplitMix64(seed: stream(index, i, 2))
            let scene = PhantomScene(size: s, rng: &sceneRNG)
            let image = try shift.render(scene.image, size: s, rng: &renderRNG)
            withExtendedLifetime(image) {
                (images.storage.raw + i * s * s * 3 * 4).copyMemory(from: image.storage.raw, byteCount: s * s * 3 * 4)
            }
            scene.mask.withUnsafeBytes { (masks.storage.raw + i * s * s).copyMemory(from: $0.baseAddress!, byteCount: s * s) }
            let k = String(i)
            ids.append("\(shift.name)_\(String(repeating: "0", count: digits - k.count))\(k)")
        }
        let provenance = Provenance(source: "phantom", format: "phantom",
                                    options: ["seed": String(seed), "size": String(s), "images_per_domain": String(n),
                                              "domain_index": String(index), "shift": shift.described],
                                    counts: ["samples": n])
        return try DomainData(domain: shift.name, ids: ids, images: images, masks: masks,
                              attributes: DomainAttributes(format: "phantom", maskRule: "generated", provenance: provenance),
                              place: place)
    }

    /// The seed of one random stream: (spec seed, domain, image, purpose) mixed through SplitMix64.
    private func stream(_ domain: Int, _ image: Int, _ purpose: UInt64) -> UInt64 {
        var h = SplitMix64.mix(seed ^ 0x5048_414E_544F_4D53)   // "PHANTOMS"
        h = SplitMix64.mix(h ^ UInt64(domain))
        h = SplitMix64.mix(h ^ UInt64(image))
        return SplitMix64.mix(h ^ purpose)
    }
}
