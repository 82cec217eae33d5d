import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// What the `Trainer` minimizes: the forward and backward of one micro-batch, and the measure of a
/// validation batch. The Trainer owns everything around it — batches, accumulation, clipping, the
/// optimizer, the schedule, evaluation cadence, checkpoints — so objectives differ only here.
///
/// `CrossEntropyObjective` (next-token loss, `train` and `sft`) is the default;
/// `PreferenceObjective` is DPO.
public protocol TrainingObjective: AnyObject {
    /// Consecutive sequences of the data that form one example and share a micro-batch, in order
    /// (1: each sequence alone; 2: a preference pair, chosen then rejected). `--batch-size` counts examples.
    var sequencesPerExample: Int { get }

    /// Names of the metrics `train` and `validate` report besides the loss, in a fixed order (every
    /// data-parallel rank sums them in that order).
    var metricNames: [String] { get }

    /// Runs `batch` forward and accumulates into `model.gradients` the gradient of
    /// `gradientScale` × the batch's loss (nothing when that loss is not finite). Returns the batch's
    /// mean loss and metric means (keys `metricNames`), nil when the batch predicts nothing.
    func train(_ batch: TokenBatch, model: Transformer<Float>, gradientScale: Float) throws -> (loss: Double, metrics: [String: Double])?

    /// How many sums `validate` returns in `ValidationTotals.sums`.
    var validationSumCount: Int { get }

    /// Runs a validation batch forward only and returns sums that add over batches and ranks.
    func validate(_ batch: TokenBatch, model: Transformer<Float>) throws -> ValidationTotals

    /// The evaluation record of the summed validation batches.
    func evalRecord(step: Int, totals: ValidationTotals) -> EvalRecord
}

/// Sums over validation batches: the loss over `count` units (tokens, pairs), and per-unit sums.
public struct ValidationTotals: Sendable {
    public var lossSum: Double
    public var count: Int
    /// Sums of the objective's own quantities (`TrainingObjective.validationSumCount` of them).
    public var sums: [Double]

    public init(lossSum: Double = 0, count: Int = 0, sums: [Double]) {
        self.lossSum = lossSum
        self.count = count
        self.sums = sums
    }

    /// Adds `other`'s sums into these.
    public mutating func add(_ other: ValidationTotals) {
        lossSum += other.lossSum
        count += other.count
        for i in sums.indices { sums[i] += other.sums[i] }
    }
}

/// The next-token cross-entropy over every target that is not ignored: pre-training and `sft`.
public final class CrossEntropyObjective: TrainingObjective {
    public init() {}

    public var sequencesPerExample: Int { 1 }
    public var metricNames: [String] { [] }
    public var validationSumCount: Int { 0 }

    public func train(_ batch: TokenBatch, model: Transformer<Float>, gradientScale: Float) throws -> (loss: Double, metrics: [String: Double])? {
        let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen)
        if model.lastPredictedCount == 0 { return nil }
        if loss.isFinite { model.backward(lossScale: gradientScale) }
        return (loss, [:])
    }

    /// The summed token loss and the number of predicted tokens.
    public func validate(_ batch: TokenBatch, model: Transformer<Float>) throws -> ValidationTotals {
        let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen,
                                     retaining: .loss)  // forward only: a `.backward` forward differentiates the LM head too
        let n = model.lastPredictedCount
        return n > 0 ? ValidationTotals(lossSum: loss * Double(n), count: n, sums: []) : ValidationTotals(sums: [])
    }

    /// The mean over every predicted validation token, and its exp.
    public func evalRecord(step: Int, totals: ValidationTotals) -> EvalRecord {
        let mean = totals.count > 0 ? totals.lossSum / Double(totals.count) : .nan
        return EvalRecord(step: step, loss: mean, perplexity: exp(mean), tokens: totals.count)
    }
}
