import Tensor

/// Test data comes from the project's seeded generator.
public typealias SeededRNG = SplitMix64

extension SplitMix64 {
    /// A float32 tensor of uniform values in [lo, hi).
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        Tensor(shape: shape, (0..<ShapeMath.count(shape)).map { _ in uniform(lo, hi) })
    }
}
