import Datasets
import Tensor
import XCTest

final class MaskBoxesTests: XCTestCase {
    /// Builds a uint8 [N, H, W] stack from rows of "#"/"." strings.
    private func masks(_ planes: [[String]]) -> Tensor {
        let h = planes[0].count, w = planes[0][0].count
        let t = Tensor(zeros: [planes.count, h, w], dtype: .uint8)
        let b = t.buffer(UInt8.self)
        for (n, rows) in planes.enumerated() {
            for (y, row) in rows.enumerated() {
                for (x, ch) in row.enumerated() where ch == "#" { b[(n * h + y) * w + x] = 1 }
            }
        }
        return t
    }

    private func boxes(_ t: Tensor) -> [[Int64]] {
        let b = int64s(t)
        return stride(from: 0, to: b.count, by: 4).map { Array(b[$0..<$0 + 4]) }
    }

    func testLargestComponentWins() throws {
        let m = masks([[
            "##....",
            "##....",
            "...###",
            "...###",
            "......",
        ]])
        // Sizes 4 and 6: keep the right block, x 3…5, y 2…3, times 4.
        XCTAssertEqual(boxes(try Prep.maskBoxes(m)), [[12, 8, 20, 12]])
    }

    func testTieKeepsBothComponents() throws {
        let m = masks([[
            "##....",
            "##....",
            "......",
            "....##",
            "....##",
        ]])
        // Two components of 4: the box spans both.
        XCTAssertEqual(boxes(try Prep.maskBoxes(m, scale: 1)), [[0, 0, 5, 4]])
    }

    func testDiagonalPixelsAreSeparateComponents() throws {
        let m = masks([[
            "#...",
            ".#..",
            "..##",
        ]])
        // 4-connectivity: sizes 1, 1, 2 → only the pair on the last row.
        XCTAssertEqual(boxes(try Prep.maskBoxes(m, scale: 1)), [[2, 2, 3, 2]])
    }

    func testEmptyMaskGivesWholeImage() throws {
        let m = masks([["....", "....", "...."], ["....", ".#..", "...."]])
        XCTAssertEqual(boxes(try Prep.maskBoxes(m)), [[0, 0, 12, 8], [4, 4, 4, 4]])
    }

    func testFloatMapsAreThresholded() throws {
        let p = Tensor(shape: [2, 3], [0.2, 0.6, 0.9,
                                       0.5, 0.1, 0.7])
        // > 0.5: (1,0) (2,0) (2,1) — one component; 0.5 itself is background.
        let b = try Prep.maskBoxes(p, threshold: 0.5, scale: 4)
        XCTAssertEqual(b.shape, [4])
        XCTAssertEqual(int64s(b), [4, 0, 8, 4])
    }

    func testSnakeNeedsNoRecursion() throws {
        // A 200×200 serpentine component: recursion depth ~20,000 would be unwise.
        let n = 200
        var rows = [String]()
        for y in 0..<n {
            if y % 2 == 0 { rows.append(String(repeating: "#", count: n)) }
            else { rows.append(y % 4 == 1 ? String(repeating: ".", count: n - 1) + "#" : "#" + String(repeating: ".", count: n - 1)) }
        }
        let cc = ConnectedComponents(foreground: rows.joined().map { $0 == "#" }, height: n, width: n)
        XCTAssertEqual(cc.count, 1)
        XCTAssertEqual(cc.sizes[1], 100 * n + 100)
    }

    func testBadInputNamesThePlace() {
        XCTAssertThrowsError(try Prep.maskBoxes(Tensor(zeros: [4], dtype: .uint8))) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.maskBoxes")
            XCTAssertTrue("\(e)".contains("[H, W], [N, H, W] or [N, 1, H, W]"), "\(e)")
        }
        XCTAssertThrowsError(try Prep.maskBoxes(Tensor(zeros: [2, 3, 4, 4], dtype: .uint8))) { e in
            XCTAssertTrue("\(e)".contains("C = 1"), "\(e)")
        }
        XCTAssertThrowsError(try Prep.maskBoxes(Tensor(zeros: [4, 4], dtype: .int64))) { e in
            XCTAssertTrue("\(e)".contains("uint8 or bool or float32"), "\(e)")
        }
    }
}
