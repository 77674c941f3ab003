import Foundation
import Models
import Pipeline
import Tensor

/// `embed`: the frozen SAM image encoder over merged canvases, once per canvas. The groups are
/// fixed here (consecutive images of each split, `grid`² per canvas), so the embeddings stay
/// valid for every θ1 and every decoder run; stage 3 looks them up.
///
/// Output `embeddings` (HDF5): `/<split>/embeddings` G×256×64×64 float32, `/<split>/groups`
/// G×grid² positions into the split's image list (float32), attributes grid, canvas, tile.
public struct EmbedStage: StageRunner {
    public var kind: String { "embed" }
    public var version: String { "2" }
    public init() {}

    public func externalInputs(_ p: StageParams) throws -> [String: String] {
        let model = try p.string("model", "litemedsam")
        if model == "litemedsam" { return ["model": Weights.liteMedSAMSHA256] }
        return ["model": try Digest.of(file: model)]
    }

    public func run(_ c: StageContext) throws -> [String: String] {
        let split = try c.split()
        let sam = try SAMBackbone(model: try c.params.string("model", "litemedsam"))
        let layout = try MergeLayout(grid: try c.params.int("merge", 1), canvas: sam.canvas)
        let (session, baseBind) = try sam.encoderSession()
        let sets = try c.evaluationSets(split, includeTrain: true)
        let total = sets.reduce(0) { $0 + layout.groups(count: $1.indices.count).count }
        let bar = ProgressBar("embed \(layout.grid)x\(layout.grid)", total: total, unit: "canvas")
        var tensors: [(String, Tensor)] = []
        for (name, domain, indices) in sets {
            let groups = layout.groups(count: indices.count)
            let emb = Tensor(zeros: [groups.count] + Array(sam.embeddingShape.dropFirst()))
            let per = emb.count / max(groups.count, 1)
            for (gi, group) in groups.enumerated() {
                var bind = baseBind
                bind["image"] = sam.normalise(try Self.canvas(domain, group.map { indices[$0] }, layout))
                let e = try session.run(bind)["embedding"]!
                emb.floats.baseAddress!.advanced(by: gi * per).update(from: e.floats.baseAddress!, count: per)
                bar.advance()
            }
            tensors += [("\(name)/embeddings", emb),
                        ("\(name)/groups", Tensor(shape: [groups.count, layout.tilesPerCanvas], groups.flatMap { $0.map(Float.init) }))]
        }
        try StageFiles.writeH5(c.outputDir + "/embeddings.h5", tensors,
                               attributes: ["grid": "\(layout.grid)", "canvas": "\(layout.canvas)", "model": sam.checkpointPath])
        return ["embeddings": "embeddings.h5"]
    }

    /// The images (by domain index) of one group as a [1, 3, C, C] canvas in [0, 1]: each is
    /// prepared as stage 1 prepares it (cv2 resize to the tile, min–max, equalisation, /255).
    static func canvas(_ d: DomainImages, _ images: [Int], _ layout: MergeLayout) throws -> Tensor {
        let c = layout.canvas, t = layout.tile
        let out = Tensor(zeros: [1, 3, c, c])
        for (k, i) in images.enumerated() {
            let img = try d.prepared(i, size: t).image
            let o = layout.origin(k)
            for ch in 0..<3 { for y in 0..<t {
                out.floats.baseAddress!.advanced(by: (ch * c + o.y + y) * c + o.x)
                    .update(from: img.floats.baseAddress!.advanced(by: (ch * t + y) * t), count: t)
            } }
        }
        return out
    }
}
