import Foundation
import Tensor

/// Random smooth fields, blur and noise on square `S×S` float images stored row-major in
/// `[Float]`, all drawn from ``SplitMix64`` so phantoms reproduce exactly.
enum Fields {
    /// A smooth field in about [-1, 1]: the normalised sum of `waves` plane waves with
    /// wavelengths between `minWavelength` and `maxWavelength` pixels, random directions and
    /// phases.
    static func smooth(size s: Int, waves: Int, minWavelength: Float, maxWavelength: Float,
                       rng: inout SplitMix64) -> [Float] {
        var out = [Float](repeating: 0, count: s * s)
        for _ in 0..<waves {
            let angle = rng.uniform(0, 2 * .pi), wavelength = rng.uniform(minWavelength, maxWavelength)
            let phase = rng.uniform(0, 2 * .pi), k = 2 * Float.pi / wavelength
            let (kx, ky) = (k * cos(angle), k * sin(angle))
            for y in 0..<s {
                for x in 0..<s { out[y * s + x] += cos(kx * Float(x) + ky * Float(y) + phase) }
            }
        }
        let scale = 1 / Float(waves).squareRoot()
        for i in out.indices { out[i] *= scale }
        return out
    }

    /// A uniform integer in `range` (modulo of one 64-bit draw; the bias is below 2⁻⁵⁰ for the
    /// small ranges used here). Written out rather than `Int.random(in:using:)` so the sequence
    /// does not depend on the standard library's algorithm.
    static func int(_ range: ClosedRange<Int>, _ rng: inout SplitMix64) -> Int {
        range.lowerBound + Int(rng.next() % UInt64(range.count))
    }

    /// A standard normal deviate (Box–Muller on two 53-bit uniforms).
    static func normal(_ rng: inout SplitMix64) -> Float {
        let u1 = (Double(rng.next() >> 11) + 1) / 9_007_199_254_740_992   // (0, 1]
        let u2 = Double(rng.next() >> 11) / 9_007_199_254_740_992
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Separable Gaussian blur with standard deviation `sigma` pixels (kernel radius ⌈3σ⌉,
    /// borders replicated). `sigma` ≤ 0 returns the input.
    static func blur(_ image: [Float], size s: Int, sigma: Float) -> [Float] {
        guard sigma > 0 else { return image }
        let r = Int((3 * sigma).rounded(.up))
        var kernel = (-r...r).map { exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func pass(_ src: [Float], horizontal: Bool) -> [Float] {
            var dst = [Float](repeating: 0, count: s * s)
            for y in 0..<s {
                for x in 0..<s {
                    var acc: Float = 0
                    for k in -r...r {
                        let (sx, sy) = horizontal ? (min(max(x + k, 0), s - 1), y) : (x, min(max(y + k, 0), s - 1))
                        acc += kernel[k + r] * src[sy * s + sx]
                    }
                    dst[y * s + x] = acc
                }
            }
            return dst
        }
        return pass(pass(image, horizontal: true), horizontal: false)
    }

    /// Downsamples by `factor` and back up with the project's cv2-exact bilinear resize: detail
    /// finer than the lower resolution is lost, as on a coarser scanner.
    static func degradeResolution(_ image: [Float], size s: Int, factor: Int) throws -> [Float] {
        guard factor > 1 else { return image }
        let small = max(1, s / factor)
        let t = Tensor(shape: [s, s], image)
        let down = try Prep.cvResize(t, width: small, height: small)
        let up = try Prep.cvResize(down, width: s, height: s)
        return withExtendedLifetime(up) { Array(up.floats) }
    }
}
