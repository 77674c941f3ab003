import XCTest
final class GradientTestsPlaceholder: XCTestCase { func testNothing() {} }
