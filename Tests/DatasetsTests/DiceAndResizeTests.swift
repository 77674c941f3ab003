import Datasets
import Tensor
import XCTest

final class DiceTests: XCTestCase {
    func testDiceByHand() throws {
        let p = Tensor(shape: [2, 2], [1, 1, 0, 0])
        let t = Tensor(shape: [2, 2], [1, 0, 1, 0])
        // (2·1 + 1) / (2 + 2 + 1) = 0.6
        XCTAssertEqual(try Prep.diceScore(p, t), 0.6, accuracy: 1e-7)
        XCTAssertEqual(try Prep.diceScore(Tensor(zeros: [3]), Tensor(zeros: [3])), 1)
    }

    func testShapeMismatchNamesThePlace() {
        XCTAssertThrowsError(try Prep.diceScore(Tensor(zeros: [2, 2]), Tensor(zeros: [4]))) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.diceScore")
            XCTAssertTrue("\(e)".contains("same shape"), "\(e)")
        }
    }
}

final class ResizeShorterSideTests: XCTestCase {
    func testOutputSizeFollowsTorchvision() {
        XCTAssertTrue(Prep.shorterSideSize(height: 512, width: 512, size: 128) == (128, 128))
        XCTAssertTrue(Prep.shorterSideSize(height: 512, width: 768, size: 128) == (128, 192))
        XCTAssertTrue(Prep.shorterSideSize(height: 300, width: 200, size: 128) == (192, 128))
        XCTAssertTrue(Prep.shorterSideSize(height: 7, width: 3, size: 2) == (4, 2))   // int(14/3) = 4
    }

    /// 4 → 2 with antialias: a triangle of half-width 2 (the scale) centred at 1 and 3, clipped
    /// to the input and renormalised: taps 0,1,2 weigh ¾,¾,¼ → 3/7, 3/7, 1/7; taps 1,2,3 → 1/7, 3/7, 3/7.
    /// Row [0, 7, 14, 21] → [(0·3 + 7·3 + 14)/7, (7 + 14·3 + 21·3)/7] = [5, 16]; rows are equal, so
    /// the vertical pass keeps them.
    func testAntialiasedDownscaleByHand() throws {
        let x = Tensor(shape: [1, 4, 4], Array([[Float]](repeating: [0, 7, 14, 21], count: 4).joined()))
        let y = try Prep.resizeShorterSide(x, to: 2)
        XCTAssertEqual(y.shape, [1, 2, 2])
        for (v, e) in zip(floats(y), [Float(5), 16, 5, 16]) { XCTAssertEqual(v, e, accuracy: 1e-5) }
    }

    func testBadInputNamesThePlace() {
        XCTAssertThrowsError(try Prep.resizeShorterSide(Tensor(zeros: [4]), to: 2)) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "Prep.resizeShorterSide")
        }
        XCTAssertThrowsError(try Prep.resizeShorterSide(Tensor(zeros: [4, 4], dtype: .uint8), to: 2)) { e in
            XCTAssertTrue("\(e)".contains("float32"), "\(e)")
        }
    }
}

final class BoxJitterTests: XCTestCase {
    func testShiftsStayInRangeAndCoverIt() {
        let j = BoxJitter(seed: 7)
        var seen = Set<Int>()
        for s in 0..<500 {
            for v in j.shifts(sample: s) { XCTAssertTrue((0...10).contains(v)); seen.insert(v) }
        }
        XCTAssertEqual(seen, Set(0...10))
    }

    func testDeterministicPerSeedSampleAndEpoch() {
        let a = BoxJitter(seed: 1), b = BoxJitter(seed: 1), c = BoxJitter(seed: 2)
        XCTAssertEqual(a.shifts(sample: 3, epoch: 1), b.shifts(sample: 3, epoch: 1))
        let all = (0..<20).map { a.shifts(sample: $0, epoch: 0) }
        XCTAssertNotEqual(all, (0..<20).map { c.shifts(sample: $0, epoch: 0) })
        XCTAssertNotEqual(all, (0..<20).map { a.shifts(sample: $0, epoch: 1) })
    }

    func testApplyMovesOutwardAndClamps() throws {
        let j = BoxJitter(seed: 3)
        let boxes = int64Tensor([2, 4], [100, 100, 200, 200, 2, 3, 509, 510])
        let o = int64s(try j.apply(boxes, firstSample: 10, width: 512, height: 512))
        let s0 = j.shifts(sample: 10).map(Int64.init), s1 = j.shifts(sample: 11).map(Int64.init)
        XCTAssertEqual(Array(o[0..<4]), [100 - s0[0], 100 - s0[1], 200 + s0[2], 200 + s0[3]])
        XCTAssertEqual(Array(o[4..<8]), [max(0, 2 - s1[0]), max(0, 3 - s1[1]), min(511, 509 + s1[2]), min(511, 510 + s1[3])])
        XCTAssertEqual(int64s(boxes), [100, 100, 200, 200, 2, 3, 509, 510], "input untouched")
    }

    func testBadBoxesNameThePlace() {
        XCTAssertThrowsError(try BoxJitter(seed: 0).apply(Tensor(zeros: [2, 4]), firstSample: 0, width: 8, height: 8)) { e in
            XCTAssertEqual((e as? SamdgError)?.place, "BoxJitter.apply")
            XCTAssertTrue("\(e)".contains("int64 [4] or [N, 4]"), "\(e)")
        }
    }
}
