import Foundation
import Graph
import Primitives
import Models
import SAMMed
import Tensor
import TestSupport
import Train
import XCTest

/// Precise BatchNorm statistics: the stem's BatchNorm (after conv1) gets the average over the
/// batches of its input's per-channel mean and unbiased variance, computed here from conv1's
/// output by a separate one-op graph; recomputing twice gives the same statistics (they do not
/// depend on the old ones).
final class PreciseBatchNormTests: XCTestCase {
    func testStemStatisticsAreBatchAverages() throws {
        let net = try SegmentationNet(config: try SegmentationNet.config(backbone: "resnet18", outputStride: 8),
                                      batch: 2, size: 32, lr: 1e-3, seed: 3)
        var rng = SeededRNG(seed: 8)
        let images = rng.tensor([5, 3, 32, 32])
        try net.recomputeBatchNormStatistics(images, batches: 3)
        let mean = net.trainer.parameters["backbone.bn1.running_mean"]!.scalars
        let variance = net.trainer.parameters["backbone.bn1.running_var"]!.scalars

        // conv1 (7×7, stride 2, padding 3, no bias) alone, per batch of 2 (rows wrap around: 0 1, 2 3, 4 0)
        let g = Graph()
        let w = net.trainer.parameters["backbone.conv1.weight"]!
        g.output("y", try g.conv2d(g.input("x", [2, 3, 32, 32]), g.input("w", w.shape), nil, ConvGeometry(stride: 2, padding: 3)))
        let conv = try Session(g)
        let c = w.shape[0]
        var em = [Double](repeating: 0, count: c), ev = em
        for rows in [[0, 1], [2, 3], [4, 0]] {
            var x: [Float] = []
            for r in rows { x += Array(images.scalars[(r * 3 * 32 * 32)..<((r + 1) * 3 * 32 * 32)]) }
            let y = try conv.run(["x": Tensor(shape: [2, 3, 32, 32], x), "w": w])["y"]!
            let plane = y.shape[2] * y.shape[3], n = 2 * plane
            let ys = y.scalars
            for ch in 0..<c {
                var s = 0.0, s2 = 0.0
                for b in 0..<2 { for i in 0..<plane { let v = Double(ys[(b * c + ch) * plane + i]); s += v; s2 += v * v } }
                let m = s / Double(n)
                em[ch] += m / 3; ev[ch] += (s2 - Double(n) * m * m) / Double(n - 1) / 3
            }
        }
        for ch in 0..<c {
            XCTAssertEqual(Double(mean[ch]), em[ch], accuracy: 1e-4 * max(1, abs(em[ch])), "mean \(ch)")
            XCTAssertEqual(Double(variance[ch]), ev[ch], accuracy: 1e-4 * max(1, ev[ch]), "variance \(ch)")
        }
        try net.recomputeBatchNormStatistics(images, batches: 3)
        XCTAssertEqual(net.trainer.parameters["backbone.bn1.running_var"]!.scalars, variance)
    }
}
