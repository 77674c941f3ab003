import Datasets
import Foundation
import Tensor
import XCTest

/// The phantom generator: reproducible, non-trivial masks, real domain shifts.
final class PhantomTests: XCTestCase {
    static let spec = PhantomSpec(imagesPerDomain: 12, size: 64, seed: 42)

    func testSameSeedSameTensorsDifferentSeedDifferent() throws {
        let a = try Self.spec.generate(), b = try Self.spec.generate()
        XCTAssertEqual(a.map(\.domain), ["source", "target-b", "target-c"])
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.ids, y.ids)
            XCTAssertEqual(x.images.scalars, y.images.scalars, x.domain)
            XCTAssertEqual(x.masks.scalars, y.masks.scalars, x.domain)
        }
        let alone = try Self.spec.generate(domain: 2)
        XCTAssertEqual(alone.images.scalars, a[2].images.scalars, "one domain alone equals its place in the set")
        var other = Self.spec
        other.seed = 43
        let c = try other.generate(domain: 0)
        XCTAssertNotEqual(c.images.scalars, a[0].images.scalars)
        XCTAssertNotEqual(c.masks.scalars, a[0].masks.scalars)
    }

    func testMasksAreNonTrivialAndOrgansStandOut() throws {
        let d = try Self.spec.generate(domain: 0)
        XCTAssertEqual(d.images.shape, [12, 64, 64, 3])
        XCTAssertEqual(d.ids.first, "source_000")
        let hw = 64 * 64
        for i in 0..<d.count {
            let fg = d.foregroundPixels(i)
            XCTAssert(fg > hw / 100 && fg < hw / 2, "image \(i): \(fg) foreground pixels")
        }
        // Learnable: in the source domain the organ is brighter on average than the rest,
        // but not separable by one threshold (distractors and texture overlap its range).
        let img = d.images.scalars, m = d.masks.scalars
        var inside: [Float] = [], outside: [Float] = []
        for p in 0..<(d.count * hw) {
            if m[p] == 1 { inside.append(img[3 * p]) } else { outside.append(img[3 * p]) }
        }
        let meanIn = inside.reduce(0, +) / Float(inside.count), meanOut = outside.reduce(0, +) / Float(outside.count)
        XCTAssertGreaterThan(meanIn - meanOut, 60, "organ \(meanIn) vs rest \(meanOut)")
        XCTAssertGreaterThan(outside.max()!, inside.min()!, "the classes overlap in intensity")
        XCTAssert(img.allSatisfy { $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }, "0…255 integers like a uint8 source")
        // Some organs reach the border.
        let spec = PhantomSpec(domains: [.source], imagesPerDomain: 40, size: 48, seed: 1)
        let many = try spec.generate(domain: 0)
        let touching = (0..<many.count).filter { i in
            let mk = many.mask(i).scalars
            return (0..<48).contains { mk[$0] == 1 || mk[47 * 48 + $0] == 1 || mk[$0 * 48] == 1 || mk[$0 * 48 + 47] == 1 }
        }
        XCTAssert(!touching.isEmpty && touching.count < 20, "\(touching.count) of 40 organs touch the border")
    }

    /// Mean, standard deviation, roughness (mean |second horizontal difference| of R, which
    /// smoothing lowers and noise raises) and mean R − B.
    static func stats(_ d: DomainData) -> (mean: Double, std: Double, roughness: Double, tint: Double) {
        let v = d.images.scalars
        let n = Double(v.count)
        let mean = v.reduce(0.0) { $0 + Double($1) } / n
        let std = (v.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
        var rough = 0.0, tint = 0.0
        let s = d.width
        for i in 0..<d.count {
            for y in 0..<s {
                for x in 1..<(s - 1) {
                    let p = ((i * s + y) * s + x) * 3
                    rough += abs(Double(v[p + 3]) - 2 * Double(v[p]) + Double(v[p - 3]))
                    tint += Double(v[p] - v[p + 2])
                }
            }
        }
        let pairs = Double(d.count * s * (s - 2))
        return (mean, std, rough / pairs, tint / pairs)
    }

    func testDomainShiftsChangeIntensityStatistics() throws {
        let domains = try Self.spec.generate()
        let (src, b, c) = (Self.stats(domains[0]), Self.stats(domains[1]), Self.stats(domains[2]))
        XCTAssertGreaterThan(b.mean - src.mean, 20, "target-b is brighter (gamma 0.7, +brightness): \(b.mean) vs \(src.mean)")
        XCTAssertGreaterThan(src.mean - c.mean, 10, "target-c is darker (gamma 1.4): \(c.mean) vs \(src.mean)")
        XCTAssertGreaterThan(c.std - src.std, 4, "target-c has more contrast: \(c.std) vs \(src.std)")
        XCTAssertGreaterThan(b.roughness, src.roughness * 1.5, "target-b is noisier: \(b.roughness) vs \(src.roughness)")
        XCTAssertGreaterThan(b.tint, 5, "target-b is tinted (R > B)")
        XCTAssertEqual(src.tint, 0, "the source is gray")
        XCTAssert(domains.allSatisfy { $0.foregroundFraction > 0.03 && $0.foregroundFraction < 0.2 })
    }

    /// Resolution and blur on the same scenes (a one-domain spec always draws domain 0's
    /// scenes): fine detail goes, the masks stay.
    func testResolutionAndBlurRemoveDetailOnly() throws {
        func render(_ shift: DomainShift) throws -> DomainData {
            try PhantomSpec(domains: [shift], imagesPerDomain: 6, size: 64, seed: 9).generate(domain: 0)
        }
        let sharp = try render(DomainShift(name: "sharp", noise: 0))
        let coarse = try render(DomainShift(name: "coarse", noise: 0, downsample: 2))
        let blurred = try render(DomainShift(name: "blurred", noise: 0, blur: 1.2))
        XCTAssertEqual(coarse.masks.scalars, sharp.masks.scalars)
        XCTAssertEqual(blurred.masks.scalars, sharp.masks.scalars)
        let r = Self.stats(sharp).roughness
        XCTAssertLessThan(Self.stats(coarse).roughness, 0.8 * r)
        XCTAssertLessThan(Self.stats(blurred).roughness, 0.8 * r)
        XCTAssertEqual(Self.stats(coarse).mean, Self.stats(sharp).mean, accuracy: 2, "same scenes, same brightness")
    }

    func testBadSpecsAreErrors() throws {
        assertThrows(try PhantomSpec(imagesPerDomain: 0).generate(domain: 0), mentioning: ["imagesPerDomain 0"])
        assertThrows(try PhantomSpec(size: 8).generate(domain: 0), mentioning: ["size 8"])
        assertThrows(try PhantomSpec().generate(domain: 5), mentioning: ["domain 5 of 3"])
        var bad = DomainShift.source
        bad.gamma = 0
        assertThrows(try PhantomSpec(domains: [bad], imagesPerDomain: 1, size: 16).generate(domain: 0), mentioning: ["gamma > 0"])
        assertThrows(try PhantomSpec(domains: [.source, .source], imagesPerDomain: 1, size: 16).generate(domain: 0),
                     mentioning: ["domain names repeat"])
    }
}
