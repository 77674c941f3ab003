import XCTest
final class GoldenTestsPlaceholder: XCTestCase { func testNothing() {} }
