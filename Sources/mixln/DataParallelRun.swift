import Foundation
import MixLNDistributed
import MixLNTensor
import MixLNTrain

/// How `mixln train` joins a data-parallel job started by `mpirun -np N`.
enum DataParallelLaunch {
    /// The group this process trains in; nil for a rank that has nothing to do: started by an MPI
    /// launcher but built without MPI, where rank 0 trains alone (and says so) and the others exit.
    static func group(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProcessGroup? {
        let launch = Launch.detect(environment)
        guard launch.underLauncher, !ProcessGroup.mpiAvailable else { return try ProcessGroup.world(launch: launch) }
        guard launch.rank == 0 else { return nil }
        if launch.size > 1 {
            progressLine("warning: this mixln was built without MPI, so it trains in one process: rank 0 of the \(launch.size) mpirun started trains alone and the others exit (install libopenmpi-dev, then `swift package reset` and rebuild, for data-parallel training)")
        } else {
            progressLine("note: this mixln was built without MPI; training in one process")
        }
        return .single()
    }
}

extension ProcessGroup {
    /// Runs `body` and ends MPI after it. When a rank fails, it says so in one line naming itself and
    /// ends every rank (rather than leave the others waiting in a collective); one process rethrows.
    func running<T>(_ body: () throws -> T) throws -> T {
        do {
            let result = try body()
            finalize()
            return result
        } catch {
            guard size > 1 else { throw error }
            abort(TrainCommand.message(for: error))
        }
    }
}

extension TrainCommand {
    /// After the model is initialized or restored on every rank: checks that all ranks hold the same
    /// weights, moments and data position, records the rank count (warning when a resumed run
    /// continues on another one), and has rank 0 say how the work is split.
    func startDataParallel(_ trainer: Trainer, record: inout RunRecord, group: ProcessGroup, resuming: Bool) throws {
        try trainer.validateDataParallel()
        try trainer.verifyReplicas()
        let ranks = group.size > 1 ? group.size : nil
        if resuming, ranks != record.ranks, group.rank == 0 {
            progressLine("warning: the run trained on \(record.ranks ?? 1) rank(s) and continues on \(group.size); the gradients are summed in another order, so the continued run is not bit-identical to an uninterrupted one")
        }
        record.ranks = ranks
        guard group.size > 1, group.rank == 0 else { return }
        let perRank = record.training.totalBatchSize / group.size
        progressLine("data parallel: \(group.size) ranks × \(Parallel.threadCount) threads (\(group.library ?? "MPI")); each computes \(perRank) of the \(record.training.totalBatchSize) sequences of every update")
    }
}
