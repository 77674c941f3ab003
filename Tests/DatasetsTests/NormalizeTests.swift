import Datasets
import Tensor
import XCTest

final class NormalizeTests: XCTestCase {
    func testMinMaxRoundsHalfToEven() throws {
        // (x − 0)/(2 − 0)·255: 0, 63.75, 127.5, 191.25, 255 → 0, 64, 128 (tie to even), 191, 255.
        let x = Tensor(shape: [5], [0, 0.5, 1, 1.5, 2])
        XCTAssertEqual(bytes(try Prep.minMaxToUInt8(x)), [0, 64, 128, 191, 255])
    }

    func testConstantImageGivesZeros() throws {
        XCTAssertEqual(bytes(try Prep.minMaxToUInt8(Tensor(shape: [2, 2], [3, 3, 3, 3]))), [0, 0, 0, 0])
    }

    /// 3×3 plane: values 10 ×4, 20 ×3, 30 ×2. hist[10]=4, hist[20]=3, hist[30]=2;
    /// step = (9 − 2) // 255 = 0 → unchanged.
    func testEqualizeStepZeroIsIdentity() throws {
        let x = uint8Tensor([3, 3], [10, 10, 10, 10, 20, 20, 20, 30, 30])
        XCTAssertEqual(bytes(try Prep.equalize(x)), [10, 10, 10, 10, 20, 20, 20, 30, 30])
    }

    /// A step > 0 needs at least 255 pixels outside the top bin, so this worked example is a
    /// 3×255 plane holding 0 ×255, 1 ×255, 2 ×255.
    /// step = (765 − 255) // 255 = 2; cumsum = 255, 510, 765;
    /// lut[0] = 0, lut[1] = (255 + 1) // 2 = 128, lut[2] = (510 + 1) // 2 = 255.
    func testEqualizeWorkedExample() throws {
        let v = [UInt8](repeating: 0, count: 255) + [UInt8](repeating: 1, count: 255) + [UInt8](repeating: 2, count: 255)
        let y = try Prep.equalize(uint8Tensor([3, 255], v))
        let out = bytes(y)
        XCTAssertEqual(Set(out[0..<255]), [0])
        XCTAssertEqual(Set(out[255..<510]), [128])
        XCTAssertEqual(Set(out[510..<765]), [255])
    }

    /// Each plane of a [C, H, W] stack is equalised on its own histogram: two 3×3 planes
    /// (both step 0, so unchanged), then a step-2 plane next to a constant one.
    func testEqualizeIsPerPlane() throws {
        let a: [UInt8] = [0, 0, 0, 50, 50, 50, 200, 200, 200]
        let b: [UInt8] = [7, 7, 7, 7, 7, 7, 7, 7, 9]
        let y = try Prep.equalize(uint8Tensor([2, 3, 3], a + b))
        XCTAssertEqual(bytes(y), a + b)
        // A plane with step > 0 next to a constant plane.
        let big = [UInt8](repeating: 0, count: 255) + [UInt8](repeating: 1, count: 255) + [UInt8](repeating: 2, count: 255)
        let z = try Prep.equalize(uint8Tensor([2, 3, 255], big + [UInt8](repeating: 5, count: 765)))
        let zo = bytes(z)
        XCTAssertEqual(zo[254], 0); XCTAssertEqual(zo[255], 128); XCTAssertEqual(zo[764], 255)
        XCTAssertEqual(Set(zo[765...]), [5])
    }

    func testNormalizeEqualizeStages() throws {
        let x = Tensor(shape: [1, 2, 2], [1, 2, 3, 5])
        let n = try Prep.normalizeEqualize(x)
        // (x − 1)/4 · 255 = 0, 63.75, 127.5, 255 → 0, 64, 128, 255; 4 pixels: step 0.
        XCTAssertEqual(bytes(n.uint8), [0, 64, 128, 255])
        XCTAssertEqual(bytes(n.equalized), [0, 64, 128, 255])
        XCTAssertEqual(floats(n.image), [0, Float(64) / 255, Float(128) / 255, 1])
        XCTAssertEqual(n.image.shape, [1, 2, 2])
    }

    func testBadInputNamesThePlace() {
        XCTAssertThrowsError(try Prep.equalize(Tensor(zeros: [3, 3]))) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.equalize")
            XCTAssertTrue("\(e)".contains("must be uint8"), "\(e)")
        }
        XCTAssertThrowsError(try Prep.equalize(Tensor(zeros: [9], dtype: .uint8))) { e in
            XCTAssertTrue("\(e)".contains("[…, H, W]"), "\(e)")
        }
        XCTAssertThrowsError(try Prep.minMaxToUInt8(Tensor(zeros: [2], dtype: .uint8))) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.minMaxToUInt8")
        }
        XCTAssertThrowsError(try Prep.minMaxToUInt8(Tensor(zeros: [0]))) { e in
            XCTAssertTrue("\(e)".contains("at least one element"), "\(e)")
        }
    }
}
