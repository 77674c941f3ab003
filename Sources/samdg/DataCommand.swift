import ArgumentParser
import Datasets
import Foundation
import Tensor

/// `samdg data`: domain files (one HDF5 file per domain; layout in Sources/Datasets/Domain and
/// data/README.md) from real data or generated phantoms.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Import datasets into domain files, inspect them, generate phantom domains.",
        subcommands: [DataImport.self, DataInfo.self, DataPhantoms.self])
}

extension ImportFormat: ExpressibleByArgument {}
extension OnError: ExpressibleByArgument {}

struct DataImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import one domain (SAML .npy layout, PNG/JPEG folders or NIfTI volumes) into a domain file.",
        discussion: """
        Mask rules: nonzero | threshold:T (gray > T) | union:R,G>T (any listed channel > T) | label:V[,V...].
        Defaults: saml threshold:0.5, folder threshold:127, nifti nonzero.
        Examples:
          samdg data import --format folder ../shared/data/polyp/Kvasir-SEG --out data/kvasir.h5 --domain kvasir
          samdg data import --format folder ../shared/data/prostate/prostate158-mini --out p158.h5 --domain p158 --mask-rule 'union:R,G>127'
          samdg data import --format nifti ../shared/data/prostate/promise12-case00 --out promise.h5 --domain promise12 --foreground-only
        """)

    @Option(help: "Source layout: saml (SRC/image/*.npy + SRC/mask/*.npy), folder (SRC/images + SRC/masks of PNG/JPEG), nifti (volumes)")
    var format: ImportFormat
    @Argument(help: "The source folder") var source: String
    @Option(help: "The domain file to write (.h5)") var out: String
    @Option(help: "The domain's name") var domain: String
    @Option(name: .customLong("mask-rule"), help: "How mask pixels become 0/1 (see below)") var maskRule: String?
    @Option(help: "Resize every sample to S×S (images bilinear, masks nearest)") var size: Int?
    @Flag(name: .customLong("foreground-only"), help: "Keep only samples whose mask has foreground") var foregroundOnly = false
    @Option(name: .customLong("on-error"), help: "Bad files: skip (record in provenance) or stop") var onError: OnError = .stop
    @Option(name: .customLong("images-subdir"), help: "Image subfolder (default image for saml, images otherwise)") var imagesSubdir: String?
    @Option(name: .customLong("masks-subdir"), help: "Mask subfolder (default mask for saml, masks otherwise)") var masksSubdir: String?
    @Option(name: .customLong("mask-suffix"), help: "NIfTI in one folder: X.nii.gz's mask is X<suffix>.nii.gz") var maskSuffix = "_segmentation"
    @Option(help: "Import at most N samples (in id order)") var limit: Int?

    func run() throws {
        let options = ImportOptions(domain: domain, maskRule: try maskRule.map { try MaskRule(parsing: $0) }, size: size,
                                    onError: onError, foregroundOnly: foregroundOnly, imagesSubdir: imagesSubdir,
                                    masksSubdir: masksSubdir, maskSuffix: maskSuffix, limit: limit)
        let data = try Importer.run(format, from: source, options: options)
        try data.write(to: out)
        print(data.summary())
        print("wrote \(out)")
    }
}

struct DataInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print a domain file's counts, shapes, foreground fraction and provenance.")

    @Argument(help: "A domain file (.h5)") var file: String
    @Option(help: "List at most this many skipped files") var skipped = 20

    func run() throws {
        print("\(file):")
        print(try DomainData.read(from: file).summary(listing: skipped))
    }
}

struct DataPhantoms: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantoms",
        abstract: "Generate the synthetic phantom domains (source, target-b, target-c), one domain file each.")

    @Option(help: "Output folder (DIR/<domain>.h5)") var out: String
    @Option(help: "Images per domain") var count = 32
    @Option(help: "Image side in pixels") var size = 128
    @Option(help: "Random seed") var seed: UInt64 = 0

    func run() throws {
        let spec = PhantomSpec(imagesPerDomain: count, size: size, seed: seed)
        for i in spec.domains.indices {
            let d = try spec.generate(domain: i)
            let path = (out as NSString).appendingPathComponent("\(d.domain).h5")
            try d.write(to: path)
            print(d.summary())
            print("wrote \(path)")
        }
    }
}
