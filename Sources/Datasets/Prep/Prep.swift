import Tensor

/// The SAMMed seed's data path, reproduced bit for bit where the goldens demand it:
///
/// | seed call | here |
/// | --- | --- |
/// | `cv2.resize(x, (W, H))` (INTER_LINEAR; float32 and uint8) | ``Prep/cvResize(_:width:height:)`` |
/// | min–max → `round(x·255)` uint8 → torchvision `equalize` → `/255` | ``Prep/normalizeEqualize(_:)`` |
/// | torchvision `Resize(128)` (bilinear, antialias) | ``Prep/resizeShorterSide(_:to:)`` |
/// | `utils.filter_mask(mask > thresh) * 4` | ``Prep/maskBoxes(_:threshold:scale:)`` |
/// | `utils.dice_score(preds, targets)` | ``Prep/diceScore(_:_:)`` |
/// | training's 0–10 px box jitter | ``BoxJitter`` |
///
/// Every function checks its input and throws a ``SamdgError`` naming the function and what it
/// expected; none of them mutates its argument.
public enum Prep {}

extension Prep {
    /// Throws unless `t.dtype` is one of `allowed`.
    static func require(_ t: Tensor, dtypes allowed: [DType], in place: String, what: String) throws {
        guard allowed.contains(t.dtype) else {
            let list = allowed.map(\.rawValue).joined(separator: " or ")
            throw SamdgError(place, "\(what) must be \(list), got \(t.dtype.rawValue) \(ShapeMath.describe(t.shape))")
        }
    }

    /// Throws unless `t.rank` is one of `ranks`.
    static func require(_ t: Tensor, ranks: ClosedRange<Int>, in place: String, what: String, layout: String) throws {
        guard ranks.contains(t.rank) else {
            throw SamdgError(place, "\(what) must be \(layout), got shape \(ShapeMath.describe(t.shape))")
        }
    }

    /// Throws unless every dimension is at least 1 (an empty image has no pixels to resize).
    static func requireNonEmpty(_ t: Tensor, in place: String, what: String) throws {
        guard t.shape.allSatisfy({ $0 > 0 }) else {
            throw SamdgError(place, "\(what) must have no empty dimension, got shape \(ShapeMath.describe(t.shape))")
        }
    }
}
