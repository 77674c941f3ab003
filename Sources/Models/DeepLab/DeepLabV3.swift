import Graph
import Primitives
import Tensor

/// DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017)
/// as in the SAMMed seed (`network.deeplabv3_resnet50`, the VainF DeepLabV3Plus-Pytorch layout):
/// a dilated ResNet backbone, the ASPP head (1×1, three atrous 3×3, image pooling; project with
/// dropout 0.1), a 3×3 conv-BN-ReLU and a 1×1 classifier; logits upsampled bilinearly to the input.
public struct DeepLabV3Config: Hashable, Sendable {
    public var backbone: ResNetConfig
    public var classes = 1
    public var asppChannels = 256
    public init(backbone: ResNetConfig, classes: Int = 1) { self.backbone = backbone; self.classes = classes }

    /// The paper's and the seed's model.
    public static let resnet50OS8 = DeepLabV3Config(backbone: .resnet50(outputStride: 8))
    /// The CPU-sized default.
    public static let resnet18OS8 = DeepLabV3Config(backbone: .resnet18(outputStride: 8))

    /// ASPP rates for the output stride ([12, 24, 36] at 8, [6, 12, 18] at 16).
    public var asppRates: [Int] { backbone.outputStride == 8 ? [12, 24, 36] : [6, 12, 18] }
}

extension ModelBuilder {
    /// image [N, 3, H, W] → logits [N, classes, H, W]. In train mode BatchNorm uses batch statistics
    /// (their running-stat updates become outputs, see `runningStatUpdates`); dropout is not
    /// applied (the engine's graphs are deterministic).
    public func deepLabV3(_ x: Value, _ c: DeepLabV3Config, mode: NormMode) throws -> Value {
        let s = graph.shape(x)
        let features = try scope("backbone") { try resnet(x, c.backbone, mode: mode) }
        let logits = try scope("classifier.classifier") { () -> Value in
            let a = try scope("0") { try aspp(features, inChannels: c.backbone.outChannels, out: c.asppChannels, rates: c.asppRates, mode: mode) }
            var h = try conv2d("1", a, c.asppChannels, c.asppChannels, kernel: 3, padding: 1, bias: false)
            h = try graph.relu(batchNorm("2", h, c.asppChannels, mode: mode))
            return try conv2d("4", h, c.asppChannels, c.classes, kernel: 1)
        }
        return try graph.resize(logits, height: s[2], width: s[3])
    }

    func aspp(_ x: Value, inChannels: Int, out: Int, rates: [Int], mode: NormMode) throws -> Value {
        let s = graph.shape(x)
        var branches: [Value] = []
        try scope("convs") {
            branches.append(try scope("0") { try graph.relu(batchNorm("1", conv2d("0", x, inChannels, out, kernel: 1, bias: false), out, mode: mode)) })
            for (k, r) in rates.enumerated() {
                branches.append(try scope("\(k + 1)") {
                    try graph.relu(batchNorm("1", conv2d("0", x, inChannels, out, kernel: 3, padding: r, dilation: r, bias: false), out, mode: mode))
                })
            }
            branches.append(try scope("\(rates.count + 1)") {
                let p = try graph.adaptiveAvgPool2d(x, height: 1, width: 1)
                let h = try graph.relu(batchNorm("2", conv2d("1", p, inChannels, out, kernel: 1, bias: false), out, mode: mode))
                return try graph.broadcast(h, [s[0], out, s[2], s[3]])      // bilinear upsampling of a 1×1 map
            })
        }
        let cat = try graph.concat(branches, axis: 1)
        return try scope("project") {
            try graph.relu(batchNorm("1", conv2d("0", cat, out * branches.count, out, kernel: 1, bias: false), out, mode: mode))
        }
    }
}
