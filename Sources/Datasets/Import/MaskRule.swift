import Foundation
import Tensor

/// How a mask file's pixels become a binary mask (uint8 {0, 1}). The text form, used on the
/// command line and stored in a domain file's `mask_rule` attribute:
///
/// | rule | foreground where | typical use |
/// | --- | --- | --- |
/// | `nonzero` | any channel ≠ 0 | NIfTI label volumes |
/// | `threshold:T` | gray > T | Kvasir-SEG, CVC-ClinicDB (`threshold:127`); SAML `.npy` masks (`threshold:0.5`) |
/// | `union:C[,C…]>T` | any of the channels C (letters R, G, B) > T | Prostate158 whole gland: `union:R,G>127` |
/// | `label:V[,V…]` | gray equals one of the values V | one structure of a multi-label volume: `label:1` |
///
/// `gray` is the pixel itself for one-channel masks; for RGB masks it is the channels' common
/// value when they agree and the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B otherwise (what
/// PIL's `convert("L")` and `cv2.cvtColor(…, COLOR_RGB2GRAY)` compute, before their rounding).
/// Comparisons are strict (`>`), on the file's own units (0…255 for 8-bit images).
public enum MaskRule: Equatable, Sendable, CustomStringConvertible {
    case nonzero
    case threshold(Float)
    case union(channels: [Int], above: Float)
    case label([Float])

    static let channelLetters: [Character] = ["R", "G", "B"]

    /// Parses the text form (see the table above).
    public init(parsing text: String) throws {
        let place = "mask rule \"\(text)\""
        let syntax = "expected nonzero, threshold:T, union:R,G>T or label:V[,V…]"
        let parts = text.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        func number(_ s: String) throws -> Float {
            guard let v = Float(s.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw SamdgError(place, "\"\(s)\" is not a number (\(syntax))")
            }
            return v
        }
        switch (parts.first?.lowercased() ?? "", parts.count) {
        case ("nonzero", 1):
            self = .nonzero
        case ("threshold", 2):
            self = .threshold(try number(parts[1]))
        case ("union", 2):
            let sides = parts[1].split(separator: ">", omittingEmptySubsequences: false)
            guard sides.count == 2 else { throw SamdgError(place, "needs channels and a threshold, like union:R,G>127") }
            let letters = sides[0].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            let channels = try letters.map { l -> Int in
                guard l.count == 1, let i = MaskRule.channelLetters.firstIndex(of: Character(l)) else {
                    throw SamdgError(place, "\"\(l)\" is not a channel (expected R, G or B)")
                }
                return i
            }
            guard !channels.isEmpty, Set(channels).count == channels.count else {
                throw SamdgError(place, "expected one or more distinct channels before \">\"")
            }
            self = .union(channels: channels, above: try number(String(sides[1])))
        case ("label", 2):
            let values = try parts[1].split(separator: ",").map { try number(String($0)) }
            guard !values.isEmpty else { throw SamdgError(place, "expected one or more label values") }
            self = .label(values)
        default:
            throw SamdgError(place, "unknown rule (\(syntax))")
        }
    }

    /// The canonical text form (parses back to the same rule).
    public var description: String {
        switch self {
        case .nonzero: return "nonzero"
        case .threshold(let t): return "threshold:\(Self.format(t))"
        case .union(let cs, let t):
            return "union:\(cs.map { String(MaskRule.channelLetters[$0]) }.joined(separator: ","))>\(Self.format(t))"
        case .label(let vs): return "label:\(vs.map(Self.format).joined(separator: ","))"
        }
    }

    private static func format(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : "\(v)"
    }

    /// The binary mask of `pixels` (float32 `[H, W, C]`): uint8 `[H, W]` in {0, 1}. Throws,
    /// naming `place`, when the rule needs a channel the mask does not have.
    public func apply(_ pixels: Tensor, place: String) throws -> Tensor {
        guard pixels.dtype == .float32, pixels.rank == 3, [1, 3].contains(pixels.shape[2]) else {
            throw SamdgError(place, "mask pixels must be float32 [H, W, 1] or [H, W, 3], got \(pixels.dtype) \(ShapeMath.describe(pixels.shape))")
        }
        let (h, w, c) = (pixels.shape[0], pixels.shape[1], pixels.shape[2])
        let src = pixels.floats
        let out = Tensor(zeros: [h, w], dtype: .uint8)
        let dst = out.buffer(UInt8.self)
        func gray(_ i: Int) -> Float {
            if c == 1 { return src[i] }
            let (r, g, b) = (src[i * 3], src[i * 3 + 1], src[i * 3 + 2])
            if r == g && g == b { return r }
            return Float(0.299 * Double(r) + 0.587 * Double(g) + 0.114 * Double(b))
        }
        switch self {
        case .nonzero:
            for i in 0..<(h * w) {
                var any = false
                for k in 0..<c where src[i * c + k] != 0 { any = true }
                dst[i] = any ? 1 : 0
            }
        case .threshold(let t):
            for i in 0..<(h * w) { dst[i] = gray(i) > t ? 1 : 0 }
        case .union(let channels, let t):
            if let missing = channels.first(where: { $0 >= c }) {
                throw SamdgError(place, "the mask has \(c) channel\(c == 1 ? "" : "s"); rule \(self) needs channel \(MaskRule.channelLetters[missing]) (expected an RGB mask)")
            }
            for i in 0..<(h * w) {
                var any = false
                for k in channels where src[i * c + k] > t { any = true }
                dst[i] = any ? 1 : 0
            }
        case .label(let values):
            for i in 0..<(h * w) { dst[i] = values.contains(gray(i)) ? 1 : 0 }
        }
        return out
    }
}
