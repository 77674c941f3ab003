import Tensor
import Primitives
internal import GraphProto

/// Facts about the on-disk graph format (`proto/samdg_graph.proto`) shared by the writer
/// (`ProtoWriter.swift`) and the reader (`ProtoReader.swift`), so each mapping is written once.
enum GraphFormat {
    /// `Graph.version` written and accepted. Bump with the `.proto` when old readers cannot cope.
    static let version: UInt32 = 1

    /// Every integer attribute and dimension must lie in ±`intLimit` (Int32 range), and a shape's
    /// element count in 0...`countLimit`, so shape inference on a corrupt file cannot overflow.
    static let intLimit = Int(Int32.max)
    static let countLimit = 1 << 62

    /// Unary functions without parameters, by their protobuf enum value. `affine` and `clamp`
    /// carry parameters and are handled by name.
    static let plainUnary: [(UInt32, UnaryFn)] = [
        (SAMDG__UNARY_KIND__UNARY_NEG.rawValue, .neg), (SAMDG__UNARY_KIND__UNARY_ABS.rawValue, .abs),
        (SAMDG__UNARY_KIND__UNARY_RELU.rawValue, .relu), (SAMDG__UNARY_KIND__UNARY_SIGMOID.rawValue, .sigmoid),
        (SAMDG__UNARY_KIND__UNARY_TANH.rawValue, .tanh), (SAMDG__UNARY_KIND__UNARY_EXP.rawValue, .exp),
        (SAMDG__UNARY_KIND__UNARY_LOG.rawValue, .log), (SAMDG__UNARY_KIND__UNARY_SQRT.rawValue, .sqrt),
        (SAMDG__UNARY_KIND__UNARY_RSQRT.rawValue, .rsqrt), (SAMDG__UNARY_KIND__UNARY_SIN.rawValue, .sin),
        (SAMDG__UNARY_KIND__UNARY_COS.rawValue, .cos), (SAMDG__UNARY_KIND__UNARY_GELU_ERF.rawValue, .geluErf),
        (SAMDG__UNARY_KIND__UNARY_GELU_TANH.rawValue, .geluTanh),
        (SAMDG__UNARY_KIND__UNARY_HARDSWISH.rawValue, .hardswish),
        (SAMDG__UNARY_KIND__UNARY_SQUARE.rawValue, .square),
        (SAMDG__UNARY_KIND__UNARY_RECIPROCAL.rawValue, .reciprocal),
        (SAMDG__UNARY_KIND__UNARY_SOFTPLUS.rawValue, .softplus), (SAMDG__UNARY_KIND__UNARY_STEP.rawValue, .step),
    ]
    static let affineKind = SAMDG__UNARY_KIND__UNARY_AFFINE.rawValue
    static let clampKind = SAMDG__UNARY_KIND__UNARY_CLAMP.rawValue

    static let binary: [(UInt32, BinaryFn)] = [
        (SAMDG__BINARY_KIND__BINARY_ADD.rawValue, .add), (SAMDG__BINARY_KIND__BINARY_SUB.rawValue, .sub),
        (SAMDG__BINARY_KIND__BINARY_MUL.rawValue, .mul), (SAMDG__BINARY_KIND__BINARY_DIV.rawValue, .div),
        (SAMDG__BINARY_KIND__BINARY_MAXIMUM.rawValue, .maximum),
        (SAMDG__BINARY_KIND__BINARY_MINIMUM.rawValue, .minimum),
        (SAMDG__BINARY_KIND__BINARY_EQUAL.rawValue, .equal),
    ]

    static let reduce: [(UInt32, ReduceFn)] = [
        (SAMDG__REDUCE_KIND__REDUCE_SUM.rawValue, .sum), (SAMDG__REDUCE_KIND__REDUCE_MEAN.rawValue, .mean),
        (SAMDG__REDUCE_KIND__REDUCE_MAX.rawValue, .max),
    ]

    /// Name of a `Node.attributes` case (`"conv"`, `"leaf"`, …), read from the generated descriptor.
    static func attributeName(_ c: Samdg__Node__AttributesCase) -> String {
        withUnsafePointer(to: samdg__node__descriptor) { d in
            guard c.rawValue != 0, let f = protobuf_c_message_descriptor_get_field(d, UInt32(c.rawValue)),
                  let name = f.pointee.name else { return "none" }
            return String(cString: name)
        }
    }

    /// Name of an enum value (`"UNARY_RELU"`), or nil for a value the format does not define.
    static func enumName(_ descriptor: ProtobufCEnumDescriptor, _ raw: UInt32) -> String? {
        withUnsafePointer(to: descriptor) { d in
            guard raw <= UInt32(Int32.max), let v = protobuf_c_enum_descriptor_get_value(d, Int32(raw)),
                  let name = v.pointee.name else { return nil }
            return String(cString: name)
        }
    }

    /// Throws unless every value of `xs` lies within ±`intLimit`.
    static func checkInts(_ xs: [Int], _ what: @autoclosure () -> String, _ fail: (String) -> SamdgError) throws {
        if let bad = xs.first(where: { $0 < -intLimit || $0 > intLimit }) {
            throw fail("\(what()) value \(bad) is outside ±\(intLimit)")
        }
    }

    /// Throws unless `shape` has non-negative dimensions within `intLimit` and at most `countLimit` elements.
    static func checkShape(_ shape: [Int], _ what: @autoclosure () -> String, _ fail: (String) -> SamdgError) throws {
        var count = 1
        for d in shape {
            guard d >= 0, d <= intLimit else {
                throw fail("\(what()) \(ShapeMath.describe(shape)) has a dimension outside 0...\(intLimit)")
            }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, p <= countLimit else {
                throw fail("\(what()) \(ShapeMath.describe(shape)) has more than 2^62 elements")
            }
            count = p
        }
    }
}
