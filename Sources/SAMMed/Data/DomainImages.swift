import Datasets
import Foundation
import H5
import Tensor

/// One domain's images and masks as the data stages write them (`/images` N×H×W×3 float32,
/// `/masks` N×H×W uint8), and the seed's preprocessing onto the stage-1 grid.
struct DomainImages {
    let name: String
    let images: Tensor
    let masks: Tensor
    var count: Int { images.shape[0] }

    /// Reads a domain file (``DomainData``'s layout, checked there).
    static func load(_ path: String, name: String) throws -> DomainImages {
        let d = try DomainData.read(from: path)
        return DomainImages(name: name, images: d.images, masks: d.masks)
    }

    /// Image i as H×W×3.
    func image(_ i: Int) -> Tensor {
        let (h, w) = (images.shape[1], images.shape[2])
        return Tensor(shape: [h, w, 3], Array(images.floats[(i * h * w * 3)..<((i + 1) * h * w * 3)]))
    }

    /// The seed's stage-1 input: cv2 bilinear resize to size×size, then min–max → uint8 →
    /// histogram equalisation → /255, as [3, S, S]; the mask by nearest neighbour, as [S, S] 0/1.
    func prepared(_ i: Int, size s: Int) throws -> (image: Tensor, mask: Tensor) {
        let r = try Prep.cvResize(image(i), width: s, height: s)
        let chw = Tensor(zeros: [3, s, s])
        let src = r.floats, dst = chw.floats
        for p in 0..<(s * s) { for c in 0..<3 { dst[c * s * s + p] = src[p * 3 + c] } }
        let img = try Prep.normalizeEqualize(chw).image
        let (h, w) = (masks.shape[1], masks.shape[2])
        let one = Tensor(shape: [h, w], (0..<(h * w)).map { Float(masks.buffer(UInt8.self)[i * h * w + $0]) })
        let m = try Prep.nearestResize(one, width: s, height: s)
        return (img, m)
    }
}

/// Prepared tensors for a list of images: [N, 3, S, S] and masks [N, 1, S, S].
struct PreparedSet {
    let images: Tensor
    let masks: Tensor
    var count: Int { images.shape[0] }

    init(_ d: DomainImages, indices: [Int], size s: Int) throws {
        images = Tensor(zeros: [indices.count, 3, s, s])
        masks = Tensor(zeros: [indices.count, 1, s, s])
        for (k, i) in indices.enumerated() {
            let (img, m) = try d.prepared(i, size: s)
            images.floats.baseAddress!.advanced(by: k * 3 * s * s).update(from: img.floats.baseAddress!, count: 3 * s * s)
            masks.floats.baseAddress!.advanced(by: k * s * s).update(from: m.floats.baseAddress!, count: s * s)
        }
    }

    /// Rows `rows` of a [N, …] tensor as a new batch tensor.
    static func gather(_ t: Tensor, _ rows: [Int]) -> Tensor {
        let per = t.count / t.shape[0]
        let out = Tensor(zeros: [rows.count] + Array(t.shape.dropFirst()))
        for (k, r) in rows.enumerated() {
            out.floats.baseAddress!.advanced(by: k * per).update(from: t.floats.baseAddress!.advanced(by: r * per), count: per)
        }
        return out
    }
}
