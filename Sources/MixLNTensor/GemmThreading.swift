/// How many threads one GEMM call may use.
///
/// A product that has the machine to itself (a linear layer over all rows) runs on all of our
/// threads. Many small products run side by side by `Parallel` workers (attention, one per query
/// block of one head) each run on their worker alone: handing each of them oneDNN's OpenMP team as
/// well would nest one pool of threads inside another.
public enum GemmThreading: Sendable {
    /// `Parallel.threadCount` threads (oneDNN's OpenMP threads; BLAS's own setting for `Double` and
    /// for fp32 without oneDNN).
    case shared
    /// The calling thread only: oneDNN with one OpenMP thread; for `Double` a plain loop, because
    /// BLAS's thread count is global rather than per call.
    case callingThread
}
