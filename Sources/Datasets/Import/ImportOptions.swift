import Foundation
import Tensor

/// The source layouts an importer reads.
public enum ImportFormat: String, CaseIterable, Sendable {
    /// SAML's pre-processed domains: `SRC/image/*.npy` (H×W×3 float) and `SRC/mask/*.npy`
    /// (H×W), paired by file name.
    case saml
    /// Image and mask folders of PNG/JPEG files paired by base name (Kvasir-SEG, CVC-ClinicDB,
    /// Prostate158): `SRC/images/*` and `SRC/masks/*`.
    case folder
    /// NIfTI-1 volumes (`.nii`, `.nii.gz`) cut into axial slices: either `SRC/images/X.nii.gz`
    /// with `SRC/masks/X.nii.gz`, or one folder holding `X.nii.gz` with `X_segmentation.nii.gz`
    /// (PROMISE12's naming; the suffix is an option).
    case nifti

    /// Image and mask subfolders when the options name none.
    public var defaultSubdirs: (images: String, masks: String) {
        switch self {
        case .saml: return ("image", "mask")
        case .folder, .nifti: return ("images", "masks")
        }
    }

    /// The mask rule when the options give none.
    public var defaultMaskRule: MaskRule {
        switch self {
        case .saml: return .threshold(0.5)
        case .folder: return .threshold(127)
        case .nifti: return .nonzero
        }
    }
}

/// What to do with a file that cannot be imported (unreadable, corrupt, a mask whose size
/// differs from its image, an image without a mask…).
public enum OnError: String, CaseIterable, Sendable {
    /// Leave the file out, record it and the reason in the provenance, go on.
    case skip
    /// Throw an error naming the file.
    case stop
}

/// Options shared by the importers (each ignores what does not apply to its format).
public struct ImportOptions: Sendable {
    /// The domain's name, stored in the file.
    public var domain: String
    /// How mask pixels become {0, 1}; nil takes the format's default
    /// (saml `threshold:0.5`, folder `threshold:127`, nifti `nonzero`).
    public var maskRule: MaskRule?
    /// Resize every sample to `size`×`size` (images with ``Prep/cvResize(_:width:height:)``,
    /// masks nearest). Without it, every sample must have the first one's size.
    public var size: Int?
    public var onError: OnError
    /// Keep only samples whose mask has foreground (for NIfTI: drop empty slices).
    public var foregroundOnly: Bool
    /// Subfolder names; nil takes the format's defaults (`image`/`mask` for saml,
    /// `images`/`masks` otherwise).
    public var imagesSubdir: String?
    public var masksSubdir: String?
    /// NIfTI in one folder: the mask of `X.nii.gz` is `X<maskSuffix>.nii.gz`.
    public var maskSuffix: String
    /// Stop after this many samples (in id order), for quick runs and tests.
    public var limit: Int?

    public init(domain: String, maskRule: MaskRule? = nil, size: Int? = nil, onError: OnError = .stop,
                foregroundOnly: Bool = false, imagesSubdir: String? = nil, masksSubdir: String? = nil,
                maskSuffix: String = "_segmentation", limit: Int? = nil) {
        self.domain = domain
        self.maskRule = maskRule
        self.size = size
        self.onError = onError
        self.foregroundOnly = foregroundOnly
        self.imagesSubdir = imagesSubdir
        self.masksSubdir = masksSubdir
        self.maskSuffix = maskSuffix
        self.limit = limit
    }

    /// Throws unless the options make sense.
    func validate() throws {
        let place = "import options"
        guard !domain.isEmpty else { throw SamdgError(place, "the domain needs a non-empty name") }
        if let s = size, !(1...8192).contains(s) { throw SamdgError(place, "size \(s) (expected 1…8192)") }
        if let l = limit, l < 1 { throw SamdgError(place, "limit \(l) (expected at least 1)") }
    }

    /// The options as provenance text (only those that apply to `format`).
    func described(for format: ImportFormat, rule: MaskRule, subdirs: (images: String, masks: String)?) -> [String: String] {
        var o: [String: String] = ["mask_rule": rule.description, "on_error": onError.rawValue,
                                   "foreground_only": String(foregroundOnly)]
        if let size { o["size"] = String(size) }
        if let limit { o["limit"] = String(limit) }
        if let subdirs {
            o["images_subdir"] = subdirs.images
            o["masks_subdir"] = subdirs.masks
        } else if format == .nifti {
            o["mask_suffix"] = maskSuffix
        }
        return o
    }
}
