import Foundation
import XCTest
import MixLNTensor

/// `Parallel.forEachChunk` hands out disjoint ranges that cover 0..<count exactly once.
final class ParallelTests: XCTestCase {
    /// Every range `forEachChunk` passes to its body, collected under a lock (the body runs concurrently).
    func chunks(_ count: Int, minimumPerThread: Int) -> [Range<Int>] {
        let lock = NSLock()
        var ranges: [Range<Int>] = []
        Parallel.forEachChunk(count, minimumPerThread: minimumPerThread) { range in
            lock.lock(); ranges.append(range); lock.unlock()
        }
        return ranges.sorted { $0.lowerBound < $1.lowerBound }
    }

    func testCoversEveryIndexExactlyOnce() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for threads in [1, 2, 3, 4, 7] {
            Parallel.threadCount = threads
            for count in [0, 1, 2, 3, 1000] {
                for minimum in [1, 2, 3, 64, 1 << 16] {
                    let label = "threads \(threads), count \(count), minimumPerThread \(minimum)"
                    let ranges = chunks(count, minimumPerThread: minimum)
                    var hits = [Int](repeating: 0, count: count)
                    for range in ranges {
                        XCTAssertFalse(range.isEmpty, "\(label): empty range \(range)")
                        for i in range { hits[i] += 1 }
                    }
                    XCTAssertEqual(hits, [Int](repeating: 1, count: count), label)
                    XCTAssertLessThanOrEqual(ranges.count, max(1, min(threads, count / minimum)), "\(label): too many workers")
                }
            }
        }
    }

    func testZeroCountNeverCallsTheBody() {
        XCTAssertEqual(chunks(0, minimumPerThread: 1), [])
    }

    func testSmallLoopsRunInOneChunk() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 8
        XCTAssertEqual(chunks(100, minimumPerThread: 64), [0..<100], "100 items with at least 64 per worker: one worker")
        XCTAssertEqual(chunks(128, minimumPerThread: 64).count, 2)
    }
}
