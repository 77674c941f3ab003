import Datasets
import Tensor
import XCTest

/// `Prep.cvResize` against cases worked by hand from OpenCV's INTER_LINEAR tables.
final class CVResizeTests: XCTestCase {
    // 2 → 4 on an axis: scale 0.5, centres −0.25, 0.25, 0.75, 1.25.
    // Horizontal taps (fraction zeroed at the borders): (0; 1,0) (0; .75,.25) (0; .25,.75) (1; 1,0).
    // Vertical taps keep the fraction: rows (0,0; .25,.75) (0,1; .75,.25) (0,1; .25,.75) (1,1; .75,.25).
    func testFloat2x2To4x4ByHand() throws {
        let x = Tensor(shape: [2, 2], [0, 4, 8, 12])
        let y = try Prep.cvResize(x, width: 4, height: 4)
        XCTAssertEqual(y.shape, [4, 4])
        XCTAssertEqual(floats(y), [0, 1, 3, 4,
                                         2, 3, 5, 6,
                                         6, 7, 9, 10,
                                         8, 9, 11, 12])
    }

    func testFloatChannelsAreInterleaved() throws {
        // Channel 1 is channel 0 plus 100: the resize must keep that per pixel.
        let x = Tensor(shape: [2, 2, 2], [0, 100, 4, 104, 8, 108, 12, 112])
        let y = try Prep.cvResize(x, width: 4, height: 4)
        XCTAssertEqual(y.shape, [4, 4, 2])
        let v = floats(y)
        XCTAssertEqual(stride(from: 0, to: 32, by: 2).map { v[$0] }, [0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12])
        for i in stride(from: 0, to: 32, by: 2) { XCTAssertEqual(v[i + 1], v[i] + 100) }
    }

    /// uint8: horizontal sums carry 11 fractional bits, e.g. row [0, 10] → [0, 5120, 15360, 20480]
    /// (= 0, 2.5, 7.5, 10). OpenCV's vertical kernel truncates in int16 lanes: output (0, 1) blends
    /// row 0 with itself as (512, 1536): (5120 ≫ 4)·512 ≫ 16 = 2, (5120 ≫ 4)·1536 ≫ 16 = 7,
    /// (2 + 7 + 2) ≫ 2 = 2, where exact rounding of 2.5 would give 3.
    /// Output (1, 1) blends 0.75·2.5 + 0.25·22.5 = 7.5 (row [20, 30] → 20, 22.5, 27.5, 30):
    /// (320·1536 ≫ 16) + (2880·512 ≫ 16) = 7 + 22 = 29, (29 + 2) ≫ 2 = 7.
    func testUInt8FixedPointByHand() throws {
        let x = uint8Tensor([2, 2], [0, 10, 20, 30])
        let y = try Prep.cvResize(x, width: 4, height: 4)
        XCTAssertEqual(y.dtype, .uint8)
        XCTAssertEqual(bytes(y), [0, 2, 7, 10,
                                  5, 7, 12, 15,
                                  15, 17, 22, 25,
                                  20, 22, 27, 30])
    }

    func testSameSizeIsACopy() throws {
        let x = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        let y = try Prep.cvResize(x, width: 3, height: 2)
        XCTAssertEqual(floats(y), floats(x))
        y.floats[0] = 9
        XCTAssertEqual(floats(x)[0], 1)
        XCTAssertEqual(floats(y)[0], 9)
    }

    func testDownscaleAveragesPairs() throws {
        // 4 → 2: centres 0.5 and 2.5, weights (½, ½): each output is the mean of a 2×2 block.
        let x = Tensor(shape: [4, 4], (0..<16).map(Float.init))
        let y = try Prep.cvResize(x, width: 2, height: 2)
        XCTAssertEqual(floats(y), [2.5, 4.5, 10.5, 12.5])
    }

    func testBadInputNamesThePlace() {
        XCTAssertThrowsError(try Prep.cvResize(Tensor(zeros: [2, 2, 2, 2]), width: 4, height: 4)) { e in
            let err = e as? SamdgError
            XCTAssertEqual(err?.place, "Prep.cvResize")
            XCTAssertTrue(err?.message.contains("[H, W] or [H, W, C]") ?? false, "\(e)")
        }
        XCTAssertThrowsError(try Prep.cvResize(Tensor(zeros: [2, 2], dtype: .int64), width: 4, height: 4)) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.cvResize")
            XCTAssertTrue("\(e)".contains("float32 or uint8"), "\(e)")
        }
        XCTAssertThrowsError(try Prep.cvResize(Tensor(zeros: [2, 2]), width: 0, height: 4)) { e in
            XCTAssertTrue("\(e)".hasPrefix("Prep.cvResize: output size must be positive"), "\(e)")
        }
    }
}
