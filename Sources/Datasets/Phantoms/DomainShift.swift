import Foundation
import Tensor

/// How one phantom domain's "scanner" renders the clean scene: the appearance changes a
/// segmentation model must generalise across. Applied in this order to clean intensities
/// (about 0…1):
///
/// 1. resolution: down by `downsample` and back up (bilinear), losing fine detail;
/// 2. `blur`: Gaussian, σ in pixels;
/// 3. bias field: multiply by `exp(biasField · f)`, `f` a smooth random field in about [-1, 1];
/// 4. `gamma`: `x^γ` (x clamped to 0…1 first);
/// 5. contrast and brightness: `(x − ½)·contrast + ½ + brightness`;
/// 6. noise: add Gaussian noise of standard deviation `noise`;
/// 7. ×255 per channel with `tint` gains, clamped to 0…255 and rounded (like a uint8 source).
///
/// The mask never changes: it is the clean scene's organ.
public struct DomainShift: Sendable, Equatable {
    public var name: String
    public var gamma: Float
    public var contrast: Float
    public var brightness: Float
    public var noise: Float
    public var biasField: Float
    public var blur: Float
    public var downsample: Int
    /// Per-channel gains R, G, B (1, 1, 1 keeps the image gray).
    public var tint: [Float]

    public init(name: String, gamma: Float = 1, contrast: Float = 1, brightness: Float = 0, noise: Float = 0.02,
                biasField: Float = 0, blur: Float = 0, downsample: Int = 1, tint: [Float] = [1, 1, 1]) {
        self.name = name
        self.gamma = gamma
        self.contrast = contrast
        self.brightness = brightness
        self.noise = noise
        self.biasField = biasField
        self.blur = blur
        self.downsample = downsample
        self.tint = tint
    }

    /// The source domain: linear response, light noise, full resolution.
    public static let source = DomainShift(name: "source")
    /// A brighter, flatter scanner with a strong bias field, more noise and some blur.
    public static let scannerB = DomainShift(name: "target-b", gamma: 0.7, contrast: 0.8, brightness: 0.06,
                                             noise: 0.05, biasField: 0.35, blur: 0.8, tint: [1.0, 0.92, 0.85])
    /// A darker, high-contrast scanner at half resolution.
    public static let lowResolution = DomainShift(name: "target-c", gamma: 1.4, contrast: 1.3, brightness: 0.12,
                                                  noise: 0.03, biasField: 0.15, downsample: 2)
    /// Source plus two shifted targets.
    public static let defaults: [DomainShift] = [.source, .scannerB, .lowResolution]

    /// Throws unless the parameters are usable.
    func validate() throws {
        let place = "domain shift \"\(name)\""
        guard !name.isEmpty, !name.contains("/") else { throw SamdgError(place, "needs a non-empty name without \"/\"") }
        guard gamma > 0, contrast.isFinite, brightness.isFinite, noise >= 0, biasField >= 0, blur >= 0, downsample >= 1 else {
            throw SamdgError(place, "expected gamma > 0, noise, bias field and blur ≥ 0, downsample ≥ 1")
        }
        guard tint.count == 3, tint.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw SamdgError(place, "tint needs three gains ≥ 0, got \(tint)")
        }
    }

    /// Renders clean `S×S` intensities into a float32 `[S, S, 3]` image in 0…255 units.
    func render(_ clean: [Float], size s: Int, rng: inout SplitMix64) throws -> Tensor {
        var x = try Fields.degradeResolution(clean, size: s, factor: downsample)
        x = Fields.blur(x, size: s, sigma: blur)
        if biasField > 0 {
            let f = Fields.smooth(size: s, waves: 3, minWavelength: Float(s) * 0.8, maxWavelength: Float(s) * 2, rng: &rng)
            for i in x.indices { x[i] *= exp(biasField * f[i]) }
        }
        for i in x.indices {
            var v = pow(min(max(x[i], 0), 1), gamma)
            v = (v - 0.5) * contrast + 0.5 + brightness
            if noise > 0 { v += noise * Fields.normal(&rng) }
            x[i] = v
        }
        let out = Tensor(uninitialized: [s, s, 3])
        let d = out.floats
        for i in 0..<(s * s) {
            for c in 0..<3 { d[3 * i + c] = min(max(x[i] * 255 * tint[c], 0), 255).rounded() }
        }
        return out
    }

    /// The parameters as provenance text.
    var described: String {
        "gamma=\(gamma) contrast=\(contrast) brightness=\(brightness) noise=\(noise) bias_field=\(biasField) blur=\(blur) downsample=\(downsample) tint=\(tint.map { "\($0)" }.joined(separator: ","))"
    }
}
