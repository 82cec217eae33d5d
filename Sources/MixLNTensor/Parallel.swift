import CMixLNGemm
import Dispatch
import Foundation
#if canImport(COpenBLAS)
import COpenBLAS
#endif

/// Splits loops over the machine's cores.
///
/// Every parallel loop partitions its items with `range(ofWorker:workers:count:)`: contiguous,
/// near-equal ranges that stay inside `0..<count` for any number of workers, so a 64-thread
/// setting on a 3-row batch gives three one-row workers, never an out-of-bounds range.
public enum Parallel {
    /// The environment variable that sets the default thread count (for example to force many
    /// workers on a small machine in tests); `--threads` overrides it.
    public static let threadsVariable = "MIXLN_THREADS"

    /// Number of workers our loops use, and of OpenMP threads each oneDNN GEMM call may use (read per
    /// call); `setThreadCount` also sets BLAS's (the Double GEMM, and fp32 without oneDNN).
    /// Defaults to `MIXLN_THREADS` when it holds a positive integer, else to all cores.
    public nonisolated(unsafe) static var threadCount: Int = defaultThreadCount()

    /// `MIXLN_THREADS` when set to a positive integer, else the number of active cores.
    public static func defaultThreadCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        guard let text = environment[threadsVariable] else { return cores }
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else {
            FileHandle.standardError.write(Data("warning: \(threadsVariable)='\(text)' is not a positive integer; using \(cores) threads\n".utf8))
            return cores
        }
        return n
    }

    /// How many workers a loop over `count` items uses: at most `threadCount`, at most one per
    /// `minimumPerThread` items, at least 1.
    @inlinable
    public static func workerCount(_ count: Int, minimumPerThread: Int = 1) -> Int {
        min(threadCount, max(1, count / max(1, minimumPerThread)))
    }

    /// The items worker `worker` of `workers` handles: `count·w/workers ..< count·(w+1)/workers`.
    /// The ranges are disjoint, cover `0..<count`, and are empty only when `workers > count`.
    @inlinable
    public static func range(ofWorker worker: Int, workers: Int, count: Int) -> Range<Int> {
        precondition(workers > 0 && (0..<workers).contains(worker), "worker \(worker) of \(workers)")
        return (count * worker / workers)..<(count * (worker + 1) / workers)
    }

    /// Calls `body(worker, range)` concurrently for `worker` in `0..<workers`, each with its
    /// `range(ofWorker:)` of `0..<count`; workers with an empty range are not called. For loops
    /// that reduce into per-worker partials sized by `workers` (summed afterwards in worker order,
    /// so results are reproducible for a given thread count).
    @inlinable
    public static func forEachWorker(_ count: Int, workers: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        if workers <= 1 { return runAsLoopBody { body(0, 0..<count) } }
        runWorkers(workers) { w in
            let range = range(ofWorker: w, workers: workers, count: count)
            if !range.isEmpty { runAsLoopBody { body(w, range) } }
        }
    }

    /// The threads our loops run on.
    public enum ThreadPool: String, Sendable, CaseIterable {
        /// The OpenMP (libgomp) team oneDNN's GEMMs run on: one pool for both, so that neither
        /// waits for the other's threads to yield the cores. Linux builds (with oneDNN).
        case openMP = "openmp"
        /// libdispatch's worker threads, a pool apart from the GEMM library's (macOS builds).
        case dispatch
    }

    /// The environment variable that picks the pool (`openmp` or `dispatch`), for comparing them.
    public static let threadPoolVariable = "MIXLN_THREAD_POOL"

    /// The pool our loops use: `MIXLN_THREAD_POOL` when it names one this build has, else OpenMP
    /// where the build has it (Linux), else libdispatch.
    public nonisolated(unsafe) static var threadPool: ThreadPool = defaultThreadPool()

    /// The pool `MIXLN_THREAD_POOL` names, else the build's default (OpenMP where available).
    public static func defaultThreadPool(environment: [String: String] = ProcessInfo.processInfo.environment) -> ThreadPool {
        let available: ThreadPool = mixln_parallel_uses_openmp() != 0 ? .openMP : .dispatch
        guard let text = environment[threadPoolVariable] else { return available }
        guard let pool = ThreadPool(rawValue: text.lowercased()), pool == .dispatch || available == .openMP else {
            FileHandle.standardError.write(Data("warning: \(threadPoolVariable)='\(text)' is not a pool this build has (\(available.rawValue), dispatch); using \(available.rawValue)\n".utf8))
            return available
        }
        return pool
    }

    /// Calls `body(w)` for `w` in `0..<workers` concurrently on `threadPool`, the caller's thread
    /// among them; returns when all have returned.
    @usableFromInline static func runWorkers(_ workers: Int, _ body: (Int) -> Void) {
        guard threadPool == .openMP else { return DispatchQueue.concurrentPerform(iterations: workers, execute: body) }
        // The closure travels to the C callback inside a struct on this stack frame: as a struct field it
        // keeps its own calling convention (a bare generic `T` would need a heap-allocated thunk per call).
        withoutActuallyEscaping(body) { body in
            var job = WorkerJob(body: body)
            withUnsafeMutablePointer(to: &job) { job in
                mixln_parallel_for(workers, job) { job, worker in
                    job!.assumingMemoryBound(to: WorkerJob.self).pointee.body(worker)
                }
            }
        }
    }

    /// What `runWorkers` hands each OpenMP thread.
    @usableFromInline struct WorkerJob {
        let body: (Int) -> Void
    }

    /// Whether the calling thread is running the body of one of these loops: on any worker, the
    /// calling thread's included, and with one worker too, so that a check does not depend on the
    /// thread count. State allocated on first use (a model's backward scratch, its gradients) is
    /// not thread-safe: two workers each allocating and storing it corrupt the heap. Where such
    /// state lives, debug builds assert that it is never asked for here; a loop is handed pointers.
    public static var isInLoopBody: Bool { pthread_getspecific(loopBodyKey) != nil }

    /// The thread-local mark `isInLoopBody` reads (non-nil inside a loop body).
    @usableFromInline static let loopBodyKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-local key left for Parallel.isInLoopBody")
        return key
    }()

    /// `body()` marked as a loop body; the mark it found is restored after (a loop inside a loop).
    @usableFromInline static func runAsLoopBody(_ body: () -> Void) {
        let outer = pthread_getspecific(loopBodyKey)
        pthread_setspecific(loopBodyKey, UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(loopBodyKey, outer) }
        body()
    }

    /// A reduction over `0..<count` in per-worker partials: `body(range, partial)` runs concurrently on
    /// disjoint ranges, each worker adding into its own zeroed `width` values; then `combine(partial)`
    /// is called for each worker's partial in worker order, so the result is reproducible for a
    /// thread count (other thread counts differ only in rounding). Used for weight gradients.
    @inlinable
    public static func reduceByWorker<T: TensorScalar>(
        _ count: Int, minimumPerThread: Int = 1, width: Int,
        _ body: (_ range: Range<Int>, _ partial: UnsafeMutablePointer<T>) -> Void,
        combine: (_ partial: UnsafePointer<T>) -> Void
    ) {
        let workers = workerCount(count, minimumPerThread: minimumPerThread)
        let partials = UnsafeMutablePointer<T>.allocate(capacity: max(1, workers * width))  // (workers, width)
        partials.initialize(repeating: 0, count: workers * width)
        defer { partials.deallocate() }
        forEachWorker(count, workers: workers) { w, range in body(range, partials + w * width) }
        for w in 0..<workers { combine(partials + w * width) }
    }

    /// Calls `body(range)` on disjoint ranges covering `0..<count`, one per worker, concurrently.
    /// Loops with fewer than `minimumPerThread` items per worker use fewer workers.
    @inlinable
    public static func forEachChunk(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        forEachWorker(count, workers: workerCount(count, minimumPerThread: minimumPerThread)) { _, range in body(range) }
    }

    /// Sets the number of threads for our kernels and for BLAS.
    public static func setThreadCount(_ n: Int) {
        threadCount = max(1, n)
        #if canImport(COpenBLAS)
        openblas_set_num_threads(Int32(threadCount))
        #endif
    }
}
