import Graph
import Tensor

/// Segment Anything (Kirillov et al., 2023) as one graph: image encoder, prompt encoder (boxes),
/// mask decoder, and the seed's use of it (masks bilinearly upsampled to the input size).
public struct SAMConfig: Hashable, Sendable {
    public var encoder: ImageEncoderViTConfig
    public var prompt: PromptEncoderConfig
    public var decoder = MaskDecoderConfig()

    public init(encoder: ImageEncoderViTConfig, prompt: PromptEncoderConfig, decoder: MaskDecoderConfig = MaskDecoderConfig()) {
        self.encoder = encoder; self.prompt = prompt; self.decoder = decoder
    }

    /// `sam_vit_b_01ec64.pth`'s architecture.
    public static var vitB: SAMConfig {
        SAMConfig(encoder: .vitB, prompt: PromptEncoderConfig(embedDim: 256, embeddingSize: 64, inputImageSize: 1024))
    }

    /// The reduced encoder of the `sam_small` golden (same code path as ViT-B).
    public static var small: SAMConfig {
        var e = ImageEncoderViTConfig()
        e.imageSize = 256; e.embedDim = 128; e.depth = 4; e.heads = 2; e.windowSize = 14; e.globalAttentionIndexes = [1, 3]
        return SAMConfig(encoder: e, prompt: PromptEncoderConfig(embedDim: 256, embeddingSize: 16, inputImageSize: 256))
    }
}

/// Named values of a built SAM graph.
public struct SAMValues {
    public let imageEmbedding, sparse, dense, densePE: Value
    public let allMasks, allIoU: Value
}

extension ModelBuilder {
    /// The prompt path and decoder for box prompts on a given image embedding.
    public func samDecode(embedding: Value, boxes: Value, _ c: SAMConfig) throws -> (sparse: Value, dense: Value, densePE: Value, masks: Value, iou: Value) {
        let b = graph.shape(boxes)[0]
        let (sparse, dense, pe) = try scope("prompt_encoder") {
            promptEncoderDeclareAll(c.prompt)
            return (try promptEncoderBoxes(boxes, c.prompt), try promptEncoderNoMask(batch: b, c.prompt), try promptEncoderDensePE(c.prompt))
        }
        let (m, iou) = try scope("mask_decoder") {
            try maskDecoder(image: embedding, densePE: pe, sparse: sparse, dense: dense, c.decoder)
        }
        return (sparse, dense, pe, m, iou)
    }

    /// image [N, 3, S, S] and boxes [B, 4] → every intermediate the seed uses.
    public func sam(image: Value, boxes: Value, _ c: SAMConfig) throws -> SAMValues {
        let emb = try scope("image_encoder") { try imageEncoderViT(image, c.encoder) }
        let d = try samDecode(embedding: emb, boxes: boxes, c)
        return SAMValues(imageEmbedding: emb, sparse: d.sparse, dense: d.dense, densePE: d.densePE, allMasks: d.masks, allIoU: d.iou)
    }
}

/// LiteMedSAM (Ma et al., "Efficient MedSAMs", 2024): TinyViT encoder at 256×256, SAM's prompt
/// encoder and mask decoder.
public struct LiteMedSAMConfig: Hashable, Sendable {
    public var encoder = TinyViTConfig.liteMedSAM
    public var prompt = PromptEncoderConfig(embedDim: 256, embeddingSize: 64, inputImageSize: 256)
    public var decoder = MaskDecoderConfig()
    public init() {}
    public var sam: SAMConfig { SAMConfig(encoder: ImageEncoderViTConfig(), prompt: prompt, decoder: decoder) }
}

extension ModelBuilder {
    public func liteMedSAM(image: Value, boxes: Value, _ c: LiteMedSAMConfig) throws -> SAMValues {
        let emb = try scope("image_encoder") { try tinyViT(image, c.encoder) }
        let d = try samDecode(embedding: emb, boxes: boxes, c.sam)
        return SAMValues(imageEmbedding: emb, sparse: d.sparse, dense: d.dense, densePE: d.densePE, allMasks: d.masks, allIoU: d.iou)
    }
}
