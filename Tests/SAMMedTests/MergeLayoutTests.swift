import SAMMed
import XCTest

/// Box offsets of each merge tile, worked by hand: a 2×2 grid on a 1024 canvas has 512-pixel
/// tiles at (x, y) = (0, 0), (512, 0), (0, 512), (512, 512) for tiles 0, 1, 2, 3.
final class MergeLayoutTests: XCTestCase {
    func testTileOffsetsFollowColumnForXAndRowForY() throws {
        let l = try MergeLayout(grid: 2, canvas: 1024)
        let box: [Float] = [10, 20, 110, 220]   // on a 512² image: scale 1
        XCTAssertEqual(l.canvasBox(box, tile: 0, imageSize: 512), [10, 20, 110, 220])
        XCTAssertEqual(l.canvasBox(box, tile: 1, imageSize: 512), [522, 20, 622, 220], "top right: x shifts by one tile")
        XCTAssertEqual(l.canvasBox(box, tile: 2, imageSize: 512), [10, 532, 110, 732], "bottom left: y shifts by one tile")
        XCTAssertEqual(l.canvasBox(box, tile: 3, imageSize: 512), [522, 532, 622, 732])
    }

    func testSeedOffsetsTransposeOffDiagonalTiles() throws {
        let l = try MergeLayout(grid: 2, canvas: 1024)
        let box: [Float] = [10, 20, 110, 220]
        XCTAssertEqual(l.canvasBox(box, tile: 1, imageSize: 512, seedOffsets: true), [10, 532, 110, 732], "seed: tile 1 lands on tile 2's place")
        XCTAssertEqual(l.canvasBox(box, tile: 2, imageSize: 512, seedOffsets: true), [522, 20, 622, 220])
        XCTAssertEqual(l.canvasBox(box, tile: 0, imageSize: 512, seedOffsets: true), l.canvasBox(box, tile: 0, imageSize: 512))
        XCTAssertEqual(l.canvasBox(box, tile: 3, imageSize: 512, seedOffsets: true), l.canvasBox(box, tile: 3, imageSize: 512))
    }

    func testScalingFromTheImageGridToTheTile() throws {
        let l = try MergeLayout(grid: 2, canvas: 256)   // LiteMedSAM: 128-pixel tiles
        XCTAssertEqual(l.canvasBox([64, 32, 255, 127], tile: 3, imageSize: 256), [160, 144, 255.5, 191.5])
        let one = try MergeLayout(grid: 1, canvas: 256)
        XCTAssertEqual(one.canvasBox([0, 0, 127, 127], tile: 0, imageSize: 128), [0, 0, 254, 254])
        XCTAssertThrowsError(try MergeLayout(grid: 3, canvas: 256))
    }

    func testGroupsAreFullAndCoverEveryImage() throws {
        let l = try MergeLayout(grid: 2, canvas: 256)
        XCTAssertEqual(l.groups(count: 6), [[0, 1, 2, 3], [4, 5, 0, 1]])
        XCTAssertEqual(l.groups(count: 4), [[0, 1, 2, 3]])
        XCTAssertEqual(try MergeLayout(grid: 1, canvas: 256).groups(count: 2), [[0], [1]])
    }
}
