import Foundation
import MixLNTensor

/// Data parallelism inside the training loop, when `dataParallel` is set.
///
/// Every rank serves the same global order of sequences (same seed, same loader position); of each
/// update's `accumulationSteps` micro-batches, rank r computes the contiguous block
/// `r·A/N ..< (r+1)·A/N` and steps over the others without reading them. Each micro-batch's backward
/// is scaled by 1/A as in one process, so the sum of the ranks' gradients, taken once between the
/// last backward and the gradient norm, is the one-process gradient up to the order of the float
/// additions. Loss sums and counts are summed the same way; evaluation batches are dealt round-robin.
extension Trainer {
    /// The micro-batches of each update this rank computes.
    var microBatchShare: Range<Int> {
        let size = dataParallel?.size ?? 1, rank = dataParallel?.rank ?? 0
        let perRank = options.accumulationSteps / size
        return (rank * perRank)..<((rank + 1) * perRank)
    }

    /// Checks that the global batch divides evenly over the ranks (`run` checks it too).
    public func validateDataParallel() throws {
        guard let group = dataParallel, group.size > 1 else { return }
        let micro = options.microBatchSize, total = options.totalBatchSize
        guard options.accumulationSteps % group.size == 0 else {
            throw TrainingError.invalidOption("--total-batch-size \(total) is the global batch: it must be a multiple of --batch-size \(micro) × \(group.size) ranks = \(micro * group.size)")
        }
    }

    /// Sums the gradients (in buckets of at most `reductionBucket` floats) and the micro-batch
    /// losses and metrics over all ranks; returns the seconds it took. Nothing to do in one process.
    func reduceGradients(loss: inout StepSums) throws -> Double? {
        guard let group = dataParallel, group.size > 1 else { return nil }
        let start = Date()
        let count = model.parameterCount
        var offset = 0
        while offset < count {
            let n = min(reductionBucket, count - offset)
            try group.sum(model.gradients.pointer + offset, count: n)
            offset += n
        }
        var sums = [loss.total, Double(loss.counted)] + loss.metrics
        try group.sum(&sums)
        loss = StepSums(total: sums[0], counted: Int(sums[1]), metrics: Array(sums[2...]))
        return Date().timeIntervalSince(start)
    }

    /// Whether any rank asked to stop (one process: its own answer).
    func agreeToStop(_ local: Bool) throws -> Bool {
        guard let group = dataParallel, group.size > 1 else { return local }
        return try group.any(local)
    }

    /// Sums an evaluation's totals over the ranks.
    func reduceEvaluation(_ totals: inout ValidationTotals) throws {
        guard let group = dataParallel, group.size > 1 else { return }
        var sums = [totals.lossSum, Double(totals.count)] + totals.sums
        try group.sum(&sums)
        totals = ValidationTotals(lossSum: sums[0], count: Int(sums[1]), sums: Array(sums[2...]))
    }

    /// Whether this rank evaluates validation batch `index` (round-robin over the ranks).
    func evaluates(batch index: Int) -> Bool {
        guard let group = dataParallel else { return true }
        return index % group.size == group.rank
    }

    /// A cheap fingerprint of what must be identical on every rank: the weights, Adam's moments and
    /// the training state (step, data position, sequence counts). FNV-1a over the bit patterns.
    public var replicaChecksum: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x0000_0100_0000_01b3 }
        for buffer in [model.parameters, optimizer.firstMoment, optimizer.secondMoment] {
            let p = buffer.pointer
            for i in 0..<model.parameterCount { mix(UInt64(p[i].bitPattern)) }
        }
        let state = self.state
        for word in [state.step, state.tokens, state.dataPosition.epoch, state.dataPosition.index, state.optimizerSteps,
                     state.trainSequences, state.validationSequences] {
            mix(UInt64(bitPattern: Int64(word)))
        }
        return hash
    }

    /// Checks that every rank holds the same weights, moments and position (after initializing or
    /// restoring a checkpoint); throws naming the ranks that differ from rank 0.
    public func verifyReplicas() throws {
        guard let group = dataParallel, group.size > 1 else { return }
        let all = try group.gather(replicaChecksum)
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw TrainingError.invalidOption("rank\(differing.count > 1 ? "s" : "") \(differing.map(String.init).joined(separator: ", ")) of \(group.size) hold\(differing.count > 1 ? "" : "s") other weights, optimizer state or data position than rank 0 (checksums \(all.map { String($0, radix: 16) }.joined(separator: " "))); every rank must read the same data and checkpoint")
        }
    }
}
