import Foundation

/// The OpenMP runtime under oneDNN (libgomp) lets its idle threads spin for a few milliseconds
/// after each GEMM before they sleep. Between two GEMMs our own kernels (softmax, norms, Adam) run
/// on their own threads, so on a machine with as many threads as cores the spinners take cores
/// from them — and from every other process: on the shared 2-core machine a bf16 training step ran
/// 1.8–9.5× slower with spinning threads than with `OMP_WAIT_POLICY=PASSIVE` (README, Speed).
///
/// libgomp reads the variable once, when it is loaded, which is before `main`. So when neither
/// `OMP_WAIT_POLICY` nor `GOMP_SPINCOUNT` is set, `mixln` sets `OMP_WAIT_POLICY=PASSIVE` and
/// executes itself again (same arguments, same process id); a user's own setting is kept.
enum OpenMPWaitPolicy {
    static let variable = "OMP_WAIT_POLICY"

    /// The policy in effect (`PASSIVE` after `makePassiveUnlessSet`), or nil where none is set.
    static var current: String? { ProcessInfo.processInfo.environment[variable] }

    static func makePassiveUnlessSet() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment[variable] == nil, environment["GOMP_SPINCOUNT"] == nil else { return }
        setenv(variable, "PASSIVE", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only when it failed: run on, with spinning OpenMP threads.
        #endif
    }
}
