import Graph
import Primitives
import Tensor

/// ResNet backbones (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016;
/// torchvision `resnet.py` names) with torchvision's `replace_stride_with_dilation`, so the
/// output stride can be 32, 16 or 8. BasicBlock also accepts dilation here (torchvision refuses
/// it), which the CPU-sized DeepLabV3 variants need.
public struct ResNetConfig: Hashable, Sendable {
    public enum Block: String, Sendable, Codable { case basic, bottleneck }
    public var block: Block
    public var layers: [Int]
    public var outputStride: Int

    public static func resnet18(outputStride: Int = 8) -> ResNetConfig { ResNetConfig(block: .basic, layers: [2, 2, 2, 2], outputStride: outputStride) }
    public static func resnet34(outputStride: Int = 8) -> ResNetConfig { ResNetConfig(block: .basic, layers: [3, 4, 6, 3], outputStride: outputStride) }
    public static func resnet50(outputStride: Int = 8) -> ResNetConfig { ResNetConfig(block: .bottleneck, layers: [3, 4, 6, 3], outputStride: outputStride) }
    public static func resnet101(outputStride: Int = 8) -> ResNetConfig { ResNetConfig(block: .bottleneck, layers: [3, 4, 23, 3], outputStride: outputStride) }

    var expansion: Int { block == .basic ? 1 : 4 }
    /// Channels of the last stage.
    public var outChannels: Int { 512 * expansion }
    /// torchvision's replace_stride_with_dilation for layer2…4.
    var dilate: [Bool] {
        switch outputStride {
        case 8: return [false, true, true]
        case 16: return [false, false, true]
        default: return [false, false, false]
        }
    }
}

extension ModelBuilder {
    /// x [N, 3, H, W] → features [N, C, H/os, W/os].
    public func resnet(_ x: Value, _ c: ResNetConfig, mode: NormMode) throws -> Value {
        var h = try conv2d("conv1", x, 3, 64, kernel: 7, stride: 2, padding: 3, bias: false)
        h = try graph.relu(batchNorm("bn1", h, 64, mode: mode))
        h = try graph.maxPool2d(h, kernel: 3, stride: 2, padding: 1)
        var inplanes = 64, dilation = 1
        for (i, blocks) in c.layers.enumerated() {
            let planes = 64 << i
            var stride = i == 0 ? 1 : 2
            let previousDilation = dilation
            if i > 0 && c.dilate[i - 1] { dilation *= stride; stride = 1 }
            h = try scope("layer\(i + 1)") {
                var t = h
                for j in 0..<blocks {
                    let needsDown = j == 0 && (stride != 1 || inplanes != planes * c.expansion)
                    t = try scope("\(j)") {
                        try residualBlock(t, c.block, inplanes: j == 0 ? inplanes : planes * c.expansion, planes: planes,
                                          stride: j == 0 ? stride : 1, dilation: j == 0 ? previousDilation : dilation,
                                          downsample: needsDown, mode: mode)
                    }
                }
                return t
            }
            inplanes = planes * c.expansion
        }
        return h
    }

    func residualBlock(_ x: Value, _ kind: ResNetConfig.Block, inplanes: Int, planes: Int, stride: Int, dilation: Int,
                       downsample: Bool, mode: NormMode) throws -> Value {
        let exp = kind == .basic ? 1 : 4
        var h: Value
        switch kind {
        case .basic:
            h = try graph.relu(batchNorm("bn1", conv2d("conv1", x, inplanes, planes, kernel: 3, stride: stride, padding: dilation,
                                                       dilation: dilation, bias: false), planes, mode: mode))
            h = try batchNorm("bn2", conv2d("conv2", h, planes, planes, kernel: 3, padding: dilation, dilation: dilation, bias: false),
                              planes, mode: mode)
        case .bottleneck:
            h = try graph.relu(batchNorm("bn1", conv2d("conv1", x, inplanes, planes, kernel: 1, bias: false), planes, mode: mode))
            h = try graph.relu(batchNorm("bn2", conv2d("conv2", h, planes, planes, kernel: 3, stride: stride, padding: dilation,
                                                       dilation: dilation, bias: false), planes, mode: mode))
            h = try batchNorm("bn3", conv2d("conv3", h, planes, planes * 4, kernel: 1, bias: false), planes * 4, mode: mode)
        }
        let identity = downsample ? try scope("downsample") {
            try batchNorm("1", conv2d("0", x, inplanes, planes * exp, kernel: 1, stride: stride, bias: false), planes * exp, mode: mode)
        } : x
        return try graph.relu(graph.add(h, identity))
    }
}
