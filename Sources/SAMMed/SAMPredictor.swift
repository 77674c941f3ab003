import Foundation
import Graph
import Kernels
import Models
import Primitives
import Tensor
import Train

/// Box-prompted SAM inference, like segment-anything's `SamPredictor`: resize the longest side to
/// the encoder's input size, normalise, pad to a square, encode once, decode each box, and
/// upscale the low-resolution mask logits back to the original image.
///
/// The checkpoint is a PyTorch `.pth` (e.g. `sam_vit_b_01ec64.pth`, `lite_medsam.pth`) or our own
/// HDF5 checkpoint (`.h5`); the architecture is read off its keys and shapes.
public final class SAMPredictor {
    public enum Architecture: CustomStringConvertible {
        case vit(SAMConfig)
        case liteMedSAM(LiteMedSAMConfig)
        public var description: String {
            switch self {
            case .vit(let c): return "SAM ViT (dim \(c.encoder.embedDim), depth \(c.encoder.depth), \(c.encoder.imageSize)²)"
            case .liteMedSAM: return "LiteMedSAM (TinyViT, 256²)"
            }
        }
    }

    public struct Prediction {
        /// [B, T, 256, 256] decoder logits (T = 1, or 3 with multimask)
        public let lowResLogits: Tensor
        /// [B, T, H, W] logits at the original image size
        public let logits: Tensor
        /// [B, T, H, W] uint8 masks (logit > 0)
        public let masks: Tensor
        /// [B, T] predicted IoU
        public let iou: Tensor
    }

    public let architecture: Architecture
    let weights: [String: Tensor]
    var inputSize: Int {
        switch architecture { case .vit(let c): return c.encoder.imageSize; case .liteMedSAM(let c): return c.prompt.inputImageSize }
    }

    public init(checkpoint path: String, loadWeights: ([String: Tensor]) -> [String: Tensor] = { $0 }) throws {
        let sd: [String: Tensor]
        if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") {
            sd = try Checkpoint.load(path: path).weights
        } else {
            sd = try PthReader.read(path: path).stateDict(stripping: ["model."])
        }
        weights = loadWeights(sd)
        architecture = try Self.detect(sd, place: path)
    }

    /// Reads the architecture off the state dict's keys and shapes.
    static func detect(_ sd: [String: Tensor], place: String) throws -> Architecture {
        if sd["image_encoder.layers.0.blocks.0.conv1.c.weight"] != nil { return .liteMedSAM(LiteMedSAMConfig()) }
        guard let qkv = sd["image_encoder.blocks.0.attn.qkv.weight"], let pos = sd["image_encoder.pos_embed"] else {
            throw SamdgError(place, "not a SAM checkpoint: expected image_encoder.blocks.*.attn.qkv.weight (ViT) or image_encoder.layers.* (TinyViT)")
        }
        var e = ImageEncoderViTConfig()
        e.embedDim = qkv.shape[1]
        e.depth = Set(sd.keys.compactMap { k -> Int? in
            guard k.hasPrefix("image_encoder.blocks.") else { return nil }
            return Int(k.dropFirst("image_encoder.blocks.".count).prefix { $0 != "." })
        }).count
        e.imageSize = pos.shape[1] * e.patchSize
        e.heads = e.embedDim == 768 ? 12 : 16
        let rel = sd["image_encoder.blocks.0.attn.rel_pos_h"]?.shape[1] ?? (e.embedDim / e.heads)
        e.heads = e.embedDim / rel
        // blocks whose rel-pos table spans the whole grid use global attention
        e.globalAttentionIndexes = (0..<e.depth).filter { sd["image_encoder.blocks.\($0).attn.rel_pos_h"]?.shape[0] == 2 * pos.shape[1] - 1 }
        e.windowSize = ((sd["image_encoder.blocks.0.attn.rel_pos_h"]?.shape[0] ?? 27) + 1) / 2
        let prompt = PromptEncoderConfig(embedDim: 256, embeddingSize: pos.shape[1], inputImageSize: e.imageSize)
        return .vit(SAMConfig(encoder: e, prompt: prompt))
    }

    /// image: [H, W, 3] or [H, W] (any of float32/float64/uint8); boxes: [x0, y0, x1, y1] in image pixels.
    public func predict(image: Tensor, boxes: [[Float]], multimask: Bool = false) throws -> Prediction {
        guard image.rank == 3 && image.shape[2] == 3 || image.rank == 2 else {
            throw SamdgError("predict: image", "expected [H, W, 3] or [H, W], got \(ShapeMath.describe(image.shape))")
        }
        guard !boxes.isEmpty, boxes.allSatisfy({ $0.count == 4 }) else {
            throw SamdgError("predict: boxes", "expected one or more [x0, y0, x1, y1] boxes")
        }
        let (h, w) = (image.shape[0], image.shape[1])
        let s = inputSize
        let scale = Float(s) / Float(max(h, w))
        let (nh, nw) = (Int((Float(h) * scale).rounded()), Int((Float(w) * scale).rounded()))
        let x = try preprocess(image, newH: nh, newW: nw)
        let mb = ModelBuilder()
        let g = mb.graph
        let xin = g.input("image", [1, 3, s, s]), bin = g.input("boxes", [boxes.count, 4])
        let v: SAMValues
        switch architecture {
        case .vit(let c): v = try mb.sam(image: xin, boxes: bin, c)
        case .liteMedSAM(let c): v = try mb.liteMedSAM(image: xin, boxes: bin, c)
        }
        let (low, iou) = try mb.selectMasks(v.allMasks, v.allIoU, multimask: multimask)
        // postprocess: to the padded input size, crop the image part, then to the original size
        let up = try g.resize(low, height: s, width: s)
        let crop = try g.slice(up, dims: [2, 3], starts: [0, 0], ends: [nh, nw])
        g.output("low", low); g.output("iou", iou); g.output("logits", try g.resize(crop, height: h, width: w))
        var bind = try StateDictBinding.bind(weights, to: mb.declared, place: "checkpoint")
        bind.merge(mb.constants) { a, _ in a }
        bind["image"] = x
        bind["boxes"] = Tensor(shape: [boxes.count, 4], boxes.flatMap { $0.map { $0 * scale } })
        let out = try Session(g).run(bind)
        let logits = out["logits"]!
        let masks = Tensor(zeros: logits.shape, dtype: .uint8)
        let mp = masks.buffer(UInt8.self), lp = logits.floats
        for i in 0..<logits.count { mp[i] = lp[i] > 0 ? 1 : 0 }
        return Prediction(lowResLogits: out["low"]!, logits: logits, masks: masks, iou: out["iou"]!)
    }

    /// HWC image → [1, 3, S, S]: antialiased bilinear resize of the longest side to S, then SAM's
    /// pixel normalisation (ViT, on 0…255 values) or min–max to [0, 1] (LiteMedSAM), zero padding
    /// at the bottom and right.
    func preprocess(_ image: Tensor, newH nh: Int, newW nw: Int) throws -> Tensor {
        let (h, w) = (image.shape[0], image.shape[1])
        let v = image.scalars
        let chw = Tensor(zeros: [1, 3, h, w])
        for c in 0..<3 { for i in 0..<(h * w) { chw.floats[c * h * w + i] = image.rank == 2 ? v[i] : v[i * 3 + c] } }
        let resized = Tensor(zeros: [1, 3, nh, nw])
        ResizeKernels.forward(chw, ResizeSpec(height: nh, width: nw, antialias: true), resized)
        var r = resized.scalars
        switch architecture {
        case .vit:
            let maxV = v.max() ?? 0
            let to255: Float = maxV <= 1 ? 255 : 1   // float images in [0, 1] are scaled to 0…255
            let mean: [Float] = [123.675, 116.28, 103.53], std: [Float] = [58.395, 57.12, 57.375]
            for c in 0..<3 { for i in 0..<(nh * nw) { r[c * nh * nw + i] = (r[c * nh * nw + i] * to255 - mean[c]) / std[c] } }
        case .liteMedSAM:
            let lo = r.min() ?? 0, hi = r.max() ?? 1
            let span = max(hi - lo, 1e-8)
            for i in r.indices { r[i] = (r[i] - lo) / span }
        }
        let s = inputSize
        let out = Tensor(zeros: [1, 3, s, s])
        for c in 0..<3 { for y in 0..<nh { for x in 0..<nw { out.floats[(c * s + y) * s + x] = r[(c * nh + y) * nw + x] } } }
        return out
    }
}
