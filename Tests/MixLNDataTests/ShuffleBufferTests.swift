import XCTest
@testable import MixLNData

final class ShuffleBufferTests: XCTestCase {
    func shuffled(_ n: Int, capacity: Int, seed: UInt64) -> [Int] {
        var buffer = ShuffleBuffer<Int>(capacity: capacity, seed: seed)
        var out: [Int] = []
        for i in 0..<n { if let x = buffer.insert(i) { out.append(x) } }
        while let x = buffer.removeRandom() { out.append(x) }
        return out
    }

    func testEveryElementOnceDeterministicPerSeed() {
        let a = shuffled(1000, capacity: 100, seed: 1)
        XCTAssertEqual(a.sorted(), Array(0..<1000))
        XCTAssertEqual(a, shuffled(1000, capacity: 100, seed: 1))
        XCTAssertNotEqual(a, shuffled(1000, capacity: 100, seed: 2))
        XCTAssertNotEqual(a, Array(0..<1000))
    }

    func testElementsMoveEarlierByLessThanTheCapacity() {
        for (position, element) in shuffled(500, capacity: 16, seed: 7).enumerated() {
            XCTAssertGreaterThan(position + 16, element, "element \(element) left before it could have arrived")
        }
    }

    func testShuffledDocumentsOverAStream() throws {
        let dir = try TemporaryDirectory(self)
        let file = try dir.write("d.jsonl", (0..<50).map { "{\"text\": \"doc \($0)\"}" }.joined(separator: "\n"))
        func run(_ seed: UInt64) throws -> [Document] {
            let source = ShuffledDocuments(try DocumentStream(path: file), capacity: 10, seed: seed)
            var out: [Document] = []
            while let d = try source.next() { out.append(d) }
            return out
        }
        XCTAssertEqual(try run(3), try run(3))
        XCTAssertNotEqual(try run(3), try run(4))
        XCTAssertEqual(Set(try run(3).map { "\($0)" }).count, 50)
    }
}
