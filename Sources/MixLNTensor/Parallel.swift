import Dispatch
import Foundation
#if canImport(COpenBLAS)
import COpenBLAS
#endif

/// Splits loops over the machine's cores.
public enum Parallel {
    /// Number of workers `forEachChunk` uses; `setThreadCount` also sets BLAS's.
    public nonisolated(unsafe) static var threadCount: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body(range)` on disjoint ranges covering `0..<count`, one per worker, concurrently.
    /// Loops with fewer than `minimumPerThread` items per worker use fewer workers.
    @inlinable
    public static func forEachChunk(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threadCount, max(1, count / max(1, minimumPerThread)))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunk = (count + workers - 1) / workers
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = w * chunk
            let end = min(count, start + chunk)
            if start < end { body(start..<end) }
        }
    }

    /// Sets the number of threads for our kernels and for BLAS.
    public static func setThreadCount(_ n: Int) {
        threadCount = max(1, n)
        #if canImport(COpenBLAS)
        openblas_set_num_threads(Int32(threadCount))
        #endif
    }
}
