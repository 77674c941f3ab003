import Foundation
import Graph
import Models
import Tensor
import Train

/// The SAM used by stage 3: LiteMedSAM (default, real weights from the project's scripts) or a
/// SAM ViT from a user's `.pth`. Gives the frozen image encoder as a session and the pixel
/// normalisation of its canvas.
struct SAMBackbone {
    let predictor: SAMPredictor
    let checkpointPath: String

    /// `model` is "litemedsam" or a checkpoint path.
    init(model: String) throws {
        checkpointPath = model == "litemedsam" ? try Weights.liteMedSAM() : model
        predictor = try SAMPredictor(checkpoint: checkpointPath)
    }

    var canvas: Int { predictor.inputSize }
    var config: SAMConfig {
        switch predictor.architecture { case .vit(let c): return c; case .liteMedSAM(let c): return c.sam }
    }
    var weights: [String: Tensor] { predictor.weights }
    var embeddingShape: [Int] { [1, config.prompt.embedDim, config.prompt.embeddingSize, config.prompt.embeddingSize] }

    /// Image encoder over one [1, 3, C, C] canvas.
    func encoderSession() throws -> (Session, [String: Tensor]) {
        let mb = ModelBuilder()
        let x = mb.graph.input("image", [1, 3, canvas, canvas])
        let emb: Value
        switch predictor.architecture {
        case .vit(let c): emb = try mb.scope("image_encoder") { try mb.imageEncoderViT(x, c.encoder) }
        case .liteMedSAM(let c): emb = try mb.scope("image_encoder") { try mb.tinyViT(x, c.encoder) }
        }
        mb.graph.output("embedding", emb)
        var bind = try StateDictBinding.bind(weights, to: mb.declared, allowExtra: true, place: checkpointPath)
        bind.merge(mb.constants) { a, _ in a }
        return (try Session(mb.graph), bind)
    }

    /// The model's pixel normalisation of a canvas in [0, 1]: min–max for LiteMedSAM; ×255 and
    /// ImageNet mean/std for SAM ViT (segment-anything's `pixel_mean`/`pixel_std`).
    func normalise(_ canvasImage: Tensor) -> Tensor {
        let out = canvasImage.copy()
        let v = out.floats, plane = out.count / 3
        switch predictor.architecture {
        case .liteMedSAM:
            var lo = Float.infinity, hi = -Float.infinity
            for x in v { lo = min(lo, x); hi = max(hi, x) }
            let span = max(hi - lo, 1e-8)
            for i in 0..<out.count { v[i] = (v[i] - lo) / span }
        case .vit:
            let mean: [Float] = [123.675, 116.28, 103.53], std: [Float] = [58.395, 57.12, 57.375]
            for c in 0..<3 { for i in 0..<plane { v[c * plane + i] = (v[c * plane + i] * 255 - mean[c]) / std[c] } }
        }
        return out
    }
}

/// SAMMed's "merging": `grid`×`grid` images packed into one C×C canvas (the paper: four 512²
/// slices in one 1024² ViT-B input). Tile k sits at row k / grid, column k % grid.
public struct MergeLayout: Equatable {
    public let grid: Int
    public let canvas: Int
    public var tile: Int { canvas / grid }
    public var tilesPerCanvas: Int { grid * grid }

    public init(grid: Int, canvas: Int) throws {
        guard grid >= 1, canvas % grid == 0 else { throw SamdgError("merge", "grid \(grid) does not divide the \(canvas)-pixel canvas") }
        self.grid = grid; self.canvas = canvas
    }

    public func origin(_ k: Int) -> (x: Int, y: Int) { ((k % grid) * tile, (k / grid) * tile) }

    /// A box (x0, y0, x1, y1) on an S×S image, mapped into tile k of the canvas: scaled by tile/S
    /// and offset by the tile's own column (x) and row (y). `seedOffsets` reproduces the seed,
    /// which adds the row offset to x and the column offset to y (off-diagonal tiles get the
    /// transposed tile's position).
    public func canvasBox(_ b: [Float], tile k: Int, imageSize s: Int, seedOffsets: Bool = false) -> [Float] {
        let scale = Float(tile) / Float(s)
        let o = origin(k)
        let (ox, oy) = seedOffsets ? (Float(o.y), Float(o.x)) : (Float(o.x), Float(o.y))
        return [b[0] * scale + ox, b[1] * scale + oy, b[2] * scale + ox, b[3] * scale + oy]
    }

    /// Fixed groups of positions 0..<count, `tilesPerCanvas` each; the last group is filled up
    /// cyclically from the start so every canvas is full (duplicates are ignored at evaluation).
    public func groups(count: Int) -> [[Int]] {
        guard count > 0 else { return [] }
        let per = tilesPerCanvas
        return stride(from: 0, to: count, by: per).map { start in (0..<per).map { (start + $0) % count } }
    }
}
