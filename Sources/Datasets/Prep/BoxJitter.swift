import Tensor

/// Training's box-prompt jitter: each side of a box moves *outward* by a whole number of pixels
/// drawn uniformly from `0...maxShift` (10 in the seed), then the box is clamped to the image.
///
/// The draws are counter-based rather than a running stream: the four shifts of a box are a
/// pure function of `(seed, epoch, sample)`, so a sample gets the same jitter whatever the batch
/// order or the number of loader threads, and a run can be replayed from its seed alone.
/// Each draw hashes its key with the SplitMix64 finaliser,
///
///     z = seed;  for part in (epoch, sample, side): z = mix(z + 0x9E3779B97F4A7C15 + part)
///     shift = ⌊z · (maxShift + 1) / 2⁶⁴⌋          // multiply-high: no modulo bias worth naming
///
/// (`mix` = Steele, Lea & Flood's SplitMix64 output function.)
///
/// ```swift
/// let jitter = BoxJitter(seed: 42)
/// let noisy = try jitter.apply(boxes, firstSample: batchStart, epoch: epoch, width: 512, height: 512)
/// ```
public struct BoxJitter: Sendable, Hashable {
    public let seed: UInt64
    /// Largest outward shift of one side, in pixels (inclusive).
    public let maxShift: Int

    public init(seed: UInt64, maxShift: Int = 10) {
        precondition(maxShift >= 0, "BoxJitter: maxShift must be ≥ 0, got \(maxShift)")
        self.seed = seed
        self.maxShift = maxShift
    }

    /// The outward shifts `[left, top, right, bottom]` of one sample's box, each in `0...maxShift`.
    public func shifts(sample: Int, epoch: Int = 0) -> [Int] {
        (0..<4).map { side in
            var z = seed
            for part in [epoch, sample, side] {
                z = SplitMix64.mix(z &+ 0x9E37_79B9_7F4A_7C15 &+ UInt64(bitPattern: Int64(part)))
            }
            return Int(z.multipliedFullWidth(by: UInt64(maxShift + 1)).high)
        }
    }

    /// Jitters int64 boxes `[x_min, y_min, x_max, y_max]` (`[4]` or `[N, 4]`; row i is sample
    /// `firstSample + i`), clamping to `0...width − 1` and `0...height − 1`. Returns a new tensor.
    public func apply(_ boxes: Tensor, firstSample: Int, epoch: Int = 0, width: Int, height: Int) throws -> Tensor {
        let place = "BoxJitter.apply"
        guard boxes.dtype == .int64, (boxes.rank == 1 || boxes.rank == 2), boxes.shape.last == 4 else {
            throw SamdgError(place, "boxes must be int64 [4] or [N, 4] (x_min, y_min, x_max, y_max), got \(boxes.dtype.rawValue) \(ShapeMath.describe(boxes.shape))")
        }
        guard width > 0, height > 0 else {
            throw SamdgError(place, "image size must be positive, got width \(width), height \(height)")
        }
        let out = boxes.copy()
        let b = out.buffer(Int64.self)
        let limits = [Int64(width - 1), Int64(height - 1)]
        for row in 0..<(boxes.count / 4) {
            let s = shifts(sample: firstSample + row, epoch: epoch)
            for k in 0..<2 { b[row * 4 + k] = max(0, b[row * 4 + k] - Int64(s[k])) }
            for k in 2..<4 { b[row * 4 + k] = min(limits[k - 2], b[row * 4 + k] + Int64(s[k])) }
        }
        return out
    }

}
