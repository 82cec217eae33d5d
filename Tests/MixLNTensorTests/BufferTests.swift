import XCTest
import MixLNTensor

final class BufferTests: XCTestCase {
    func testZeroInitialized() {
        for count in [0, 1, 5, 1000] {
            let buffer = Buffer<Float>(count: count)
            XCTAssertEqual(buffer.count, count)
            XCTAssertEqual(buffer.array, [Float](repeating: 0, count: count))
        }
        XCTAssertEqual(Buffer<Double>(count: 3).array, [0, 0, 0])
    }

    func testInitFromArrayCopiesAndSubscriptWrites() {
        var source: [Double] = [1, -2, 3.5]
        let buffer = Buffer(source)
        source[0] = 99
        XCTAssertEqual(buffer.array, [1, -2, 3.5], "the buffer owns a copy")
        buffer[1] = 7
        XCTAssertEqual(buffer[1], 7)
        XCTAssertEqual(buffer.pointer[1], 7, "subscript and pointer see the same memory")
        XCTAssertEqual(Buffer<Float>([Float]()).array, [])
    }

    func testZeroClearsEveryElement() {
        let buffer = Buffer<Float>([1, 2, 3, 4, 5])
        buffer.zero()
        XCTAssertEqual(buffer.array, [0, 0, 0, 0, 0])
        Buffer<Float>(count: 0).zero()  // must not touch the spare slot's neighbours or crash
    }
}
