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

    /// `body` once with each pool this build has (OpenMP and libdispatch on Linux).
    func withEachThreadPool(_ body: (Parallel.ThreadPool) throws -> Void) rethrows {
        let saved = Parallel.threadPool
        defer { Parallel.threadPool = saved }
        for pool in Parallel.ThreadPool.allCases where pool == .dispatch || Parallel.defaultThreadPool(environment: [:]) == .openMP {
            Parallel.threadPool = pool
            try body(pool)
        }
    }

    func testCoversEveryIndexExactlyOnce() {
        withEachThreadPool { _ in coversEveryIndexExactlyOnce() }
    }

    func coversEveryIndexExactlyOnce() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for threads in [1, 2, 3, 4, 7, 16, 64] {
            Parallel.threadCount = threads
            for count in [0, 1, 2, 3, 5, 15, 17, 1000] {
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

    /// Worker ranges stay inside 0..<count, are contiguous and balanced, for more workers than items too.
    func testWorkerRangesPartitionTheItems() {
        for workers in [1, 2, 3, 16, 64] {
            for count in [0, 1, 3, 5, 16, 100] {
                let ranges = (0..<workers).map { Parallel.range(ofWorker: $0, workers: workers, count: count) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, count)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = ranges.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "\(workers) workers, \(count) items: \(sizes)")
            }
        }
    }

    /// `forEachWorker` hands each non-empty worker its own index and range.
    func testForEachWorkerWithMoreWorkersThanItems() {
        let lock = NSLock()
        var seen: [Int: Range<Int>] = [:]
        Parallel.forEachWorker(3, workers: 64) { worker, range in
            lock.lock(); seen[worker] = range; lock.unlock()
        }
        XCTAssertEqual(seen.values.map(\.count).reduce(0, +), 3)
        for (worker, range) in seen { XCTAssertEqual(range, Parallel.range(ofWorker: worker, workers: 64, count: 3)) }
    }

    /// `isInLoopBody` holds in every body, one worker or many, and nowhere else: after a loop, on
    /// the calling thread, and after a loop inside a loop body it is still true.
    func testIsInLoopBodyOnlyInsideLoopBodies() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        XCTAssertFalse(Parallel.isInLoopBody)
        for threads in [1, 3, 16] {
            Parallel.threadCount = threads
            let lock = NSLock()
            var marks: [Bool] = []
            Parallel.forEachChunk(48) { _ in
                let outer = Parallel.isInLoopBody
                Parallel.forEachChunk(4) { _ in lock.lock(); marks.append(Parallel.isInLoopBody); lock.unlock() }
                lock.lock(); marks += [outer, Parallel.isInLoopBody]; lock.unlock()
            }
            XCTAssertFalse(marks.isEmpty)
            XCTAssertEqual(marks.filter { !$0 }.count, 0, "\(threads) threads: a body not marked")
            XCTAssertFalse(Parallel.isInLoopBody, "\(threads) threads: marked after the loop")
        }
    }

    /// Loops inside loop bodies (the inner team is one thread under OpenMP) and loops started from
    /// several threads at once each run every worker exactly once, in either pool.
    func testNestedAndConcurrentLoopsRunEveryWorkerOnce() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        withEachThreadPool { pool in
            for threads in [2, 16, 64] {
                Parallel.threadCount = threads
                let lock = NSLock()
                var hits = [Int](repeating: 0, count: 40 * 7)  // (outer item, inner item)
                Parallel.forEachChunk(40) { outer in
                    for i in outer {
                        Parallel.forEachWorker(7, workers: threads) { _, inner in
                            lock.lock(); for j in inner { hits[i * 7 + j] += 1 }; lock.unlock()
                        }
                    }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: 40 * 7), "\(pool), \(threads) threads, nested")

                var callerHits = [Int](repeating: 0, count: 4 * 100)  // (caller, item)
                DispatchQueue.concurrentPerform(iterations: 4) { caller in
                    Parallel.forEachWorker(100, workers: threads) { _, range in
                        lock.lock(); for i in range { callerHits[caller * 100 + i] += 1 }; lock.unlock()
                    }
                }
                XCTAssertEqual(callerHits, [Int](repeating: 1, count: 400), "\(pool), \(threads) threads, 4 callers")
            }
        }
    }

    /// Workers really run at the same time: two workers that each wait for the other finish.
    func testWorkersRunConcurrently() {
        withEachThreadPool { pool in
            let arrived = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
            var timedOut = false
            let lock = NSLock()
            Parallel.forEachWorker(2, workers: 2) { worker, _ in
                if worker == 0 {
                    let ok = arrived.wait(timeout: .now() + 10) == .success
                    released.signal()
                    lock.lock(); timedOut = timedOut || !ok; lock.unlock()
                } else {
                    arrived.signal()
                    let ok = released.wait(timeout: .now() + 10) == .success
                    lock.lock(); timedOut = timedOut || !ok; lock.unlock()
                }
            }
            XCTAssertFalse(timedOut, "\(pool): the two workers did not run concurrently")
        }
    }

    func testThreadPoolFromTheEnvironment() {
        let available = Parallel.defaultThreadPool(environment: [:])
        #if os(Linux)
        XCTAssertEqual(available, .openMP, "Linux builds share oneDNN's OpenMP threads")
        #endif
        XCTAssertEqual(Parallel.defaultThreadPool(environment: ["MIXLN_THREAD_POOL": "dispatch"]), .dispatch)
        XCTAssertEqual(Parallel.defaultThreadPool(environment: ["MIXLN_THREAD_POOL": "OpenMP"]), available)
        XCTAssertEqual(Parallel.defaultThreadPool(environment: ["MIXLN_THREAD_POOL": "tbb"]), available, "unknown: the default")
    }

    func testThreadCountFromTheEnvironment() {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertEqual(Parallel.defaultThreadCount(environment: [:]), cores)
        XCTAssertEqual(Parallel.defaultThreadCount(environment: ["MIXLN_THREADS": "16"]), 16)
        XCTAssertEqual(Parallel.defaultThreadCount(environment: ["MIXLN_THREADS": "0"]), cores, "not positive: all cores")
        XCTAssertEqual(Parallel.defaultThreadCount(environment: ["MIXLN_THREADS": "many"]), cores)
    }
}
