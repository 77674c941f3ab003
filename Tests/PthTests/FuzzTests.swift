import Foundation
import Tensor
import XCTest
import Models

/// Random byte flips in valid pickles, zips and legacy streams: every variant must either load
/// or throw — never crash, hang or allocate without bound.
/// `PTH_FUZZ_ITERATIONS` and `PTH_FUZZ_SEED` lengthen or vary a run.
final class FuzzTests: XCTestCase {
    private let iterations = Int(ProcessInfo.processInfo.environment["PTH_FUZZ_ITERATIONS"] ?? "") ?? 1000
    private let seed = UInt64(ProcessInfo.processInfo.environment["PTH_FUZZ_SEED"] ?? "") ?? 0
    private func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        for _ in 0...rng.below(3) {
            let i = rng.below(b.count)
            switch rng.below(3) {
            case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
            case 1: b[i] ^= 1 << UInt8(rng.below(8))
            default: b[i] = [0x00, 0xFF, 0x7F, 0x80, 0x28, 0x2E][rng.below(6)]
            }
        }
        return b
    }

    func testFlippedPickles() {
        var rng = SplitMix64(seed: 1 &+ seed &* 7919)
        let pickle = ContainerFormatTests.edgePickle().bytes
        let storages = ["0": leBytes(floats: [0, 1, 2, 3, 4, 5]), "1": leBytes(ints: [Int64(99)])]
        var loaded = 0
        for _ in 0..<(5 * iterations) {
            if (try? PthReader.unpickle(mutate(pickle, &rng), name: "fuzz.pkl", storages: storages)) != nil { loaded += 1 }
        }
        XCTAssertLessThan(loaded, 5 * iterations)
    }

    func testFlippedContainers() throws {
        var rng = SplitMix64(seed: 2 &+ seed &* 7919)
        var inputs = [ContainerFormatTests.edgeZip(), ContainerFormatTests.legacyStream()]
        if let root = try? goldenRoot() {
            for f in ["pth_edge_cases.pth", "pth_edge_cases_legacy.pth"] {
                inputs.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "/models/" + f))))
            }
        }
        for input in inputs {
            for _ in 0..<iterations { _ = try? PthReader.read(bytes: mutate(input, &rng), name: "fuzz.pth") }
        }
    }
}

private extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
