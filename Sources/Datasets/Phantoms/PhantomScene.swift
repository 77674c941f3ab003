import Foundation
import Tensor

/// One clean phantom image (intensities in about 0…1, before any domain shift) and its mask.
///
/// ```
///  ┌──────────────────────────────┐   background: dark level, linear gradient, smooth field
///  │   ╭───────── body ─────────╮ │   body: a large soft ellipse, a little brighter
///  │   │  ◌ distractor   ╭────╮ │ │   distractors: 2–4 weaker smooth blobs, brighter or darker
///  │   │        ◌        │organ│ │ │   organ: the bright textured blob the mask marks (drawn last,
///  │   ╰─────────────────╰────╯─╯ │          sometimes cut by the image border)
///  └──────────────────────────────┘
/// ```
///
/// Every blob is an ellipse whose radius is modulated by low-frequency harmonics,
/// `r(φ) = r₀ (1 + Σₖ₌₂…₄ aₖ cos(kφ + pₖ))`, with a soft 1-pixel edge for the image; the mask is
/// where the organ's edge weight is at least ½.
struct PhantomScene {
    let size: Int
    /// Row-major `S×S` clean intensities.
    var image: [Float]
    /// Row-major `S×S`, 0 or 1.
    var mask: [UInt8]

    /// A blob: centre, base radius, aspect (minor/major), rotation and radial harmonics.
    struct Blob {
        var cx, cy, r0, aspect, angle: Float
        var harmonics: [(amplitude: Float, phase: Float)]

        static func random(cx: Float, cy: Float, r0: Float, wobble: Float, rng: inout SplitMix64) -> Blob {
            Blob(cx: cx, cy: cy, r0: r0, aspect: rng.uniform(0.6, 1), angle: rng.uniform(0, .pi),
                 harmonics: (0..<3).map { _ in (rng.uniform(0, wobble), rng.uniform(0, 2 * .pi)) })
        }

        /// Edge weight at pixel (x, y): 1 inside, 0 outside, linear over one pixel at the boundary.
        func weight(_ x: Int, _ y: Int) -> Float {
            let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
            let u = dx * cos(angle) + dy * sin(angle), v = (-dx * sin(angle) + dy * cos(angle)) / aspect
            let rho = (u * u + v * v).squareRoot(), phi = atan2(v, u)
            var r = r0
            for (k, h) in harmonics.enumerated() { r += r0 * h.amplitude * cos(Float(k + 2) * phi + h.phase) }
            return min(max(r - rho + 0.5, 0), 1)
        }
    }

    init(size s: Int, rng: inout SplitMix64) {
        size = s
        let sf = Float(s)
        // Background: a dark level, a gentle gradient and a smooth field.
        let level = rng.uniform(0.1, 0.2), gx = rng.uniform(-0.08, 0.08), gy = rng.uniform(-0.08, 0.08)
        let field = Fields.smooth(size: s, waves: 4, minWavelength: sf * 0.5, maxWavelength: sf * 1.5, rng: &rng)
        var img = [Float](repeating: 0, count: s * s)
        for y in 0..<s {
            for x in 0..<s {
                img[y * s + x] = level + gx * (Float(x) / sf - 0.5) + gy * (Float(y) / sf - 0.5) + 0.03 * field[y * s + x]
            }
        }
        // Body: a large soft ellipse around the centre.
        let body = Blob.random(cx: sf * rng.uniform(0.45, 0.55), cy: sf * rng.uniform(0.45, 0.55),
                               r0: sf * rng.uniform(0.36, 0.46), wobble: 0.05, rng: &rng)
        let bodyLevel = rng.uniform(0.12, 0.18)
        PhantomScene.paint(&img, s, body) { _, _, v in v + bodyLevel }
        // Distractors: weaker blobs, brighter or darker than their surroundings, no texture.
        for _ in 0..<Fields.int(2...4, &rng) {
            let d = Blob.random(cx: sf * rng.uniform(0.15, 0.85), cy: sf * rng.uniform(0.15, 0.85),
                                r0: sf * rng.uniform(0.05, 0.14), wobble: 0.15, rng: &rng)
            let delta = (rng.uniform(0, 1) < 0.6 ? 1 : -1) * rng.uniform(0.08, 0.2)
            PhantomScene.paint(&img, s, d) { _, _, v in v + delta }
        }
        // Organ: bright, textured, sometimes reaching past the border.
        let r0 = sf * rng.uniform(0.12, 0.2)
        let (cx, cy): (Float, Float)
        if rng.uniform(0, 1) < 0.2 {
            let inset = r0 * rng.uniform(0.55, 0.9), along = sf * rng.uniform(0.3, 0.7)
            switch Fields.int(0...3, &rng) {
            case 0: (cx, cy) = (inset, along)
            case 1: (cx, cy) = (sf - inset, along)
            case 2: (cx, cy) = (along, inset)
            default: (cx, cy) = (along, sf - inset)
            }
        } else {
            (cx, cy) = (sf * rng.uniform(0.3, 0.7), sf * rng.uniform(0.3, 0.7))
        }
        let organ = Blob.random(cx: cx, cy: cy, r0: r0, wobble: 0.12, rng: &rng)
        let organLevel = rng.uniform(0.62, 0.74)
        let texture = Fields.smooth(size: s, waves: 3, minWavelength: 4, maxWavelength: 9, rng: &rng)
        let core = Blob.random(cx: cx + rng.uniform(-0.2, 0.2) * r0, cy: cy + rng.uniform(-0.2, 0.2) * r0,
                               r0: r0 * rng.uniform(0.3, 0.5), wobble: 0.1, rng: &rng)
        let coreDelta = rng.uniform(-0.12, -0.04)
        var msk = [UInt8](repeating: 0, count: s * s)
        PhantomScene.paint(&img, s, organ) { x, y, _ in
            organLevel + 0.05 * texture[y * s + x] + coreDelta * core.weight(x, y)
        }
        for y in 0..<s { for x in 0..<s where organ.weight(x, y) >= 0.5 { msk[y * s + x] = 1 } }
        image = img
        mask = msk
    }

    /// Blends `value(x, y, current)` into `img` with the blob's edge weight.
    private static func paint(_ img: inout [Float], _ s: Int, _ blob: Blob, _ value: (Int, Int, Float) -> Float) {
        for y in 0..<s {
            for x in 0..<s {
                let w = blob.weight(x, y)
                guard w > 0 else { continue }
                let old = img[y * s + x]
                img[y * s + x] = old + w * (value(x, y, old) - old)
            }
        }
    }
}
