import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Direct preference optimization (`mixln dpo`): the sigmoid DPO loss (`PreferenceLoss`) of the
/// trained policy against a frozen reference, the policy's starting weights.
///
/// Batches hold pairs, chosen then rejected (`sequencesPerExample` 2). The reference is a second,
/// forward-only model: no gradients, no optimizer state; its activations keep only what its loss
/// needs. Each micro-batch's gradient is that of its mean pair loss times the accumulation scale,
/// so an update's gradient is that of the mean over all of its pairs.
public final class PreferenceObjective: TrainingObjective {
    public let beta: Double
    /// The frozen starting model.
    public let reference: Transformer<Float>

    /// - Parameters:
    ///   - policy: the model to train; its weights now become the reference's
    ///   - beta: β, the strength of the tie to the reference (TRL's default is 0.1)
    public init(startingFrom policy: Transformer<Float>, beta: Double) throws {
        guard beta > 0, beta.isFinite else { throw TrainingError.invalidOption("--beta must be positive, got \(beta)") }
        guard policy.weightPrecision == .fp32 else { throw TrainingError.invalidOption("DPO trains a model with fp32 weights") }
        self.beta = beta
        reference = try Transformer<Float>(config: policy.config, plan: policy.plan)
        reference.parameters.pointer.update(from: policy.parameters.pointer, count: policy.parameterCount)
        reference.parametersDidChange()
        reference.matmulPrecision = policy.matmulPrecision
    }

    public var sequencesPerExample: Int { 2 }
    public var metricNames: [String] { PreferenceLoss.metricNames }
    /// The metrics' sums over pairs, then the chosen replies' summed token loss and their token count.
    public var validationSumCount: Int { metricNames.count + 2 }

    public func train(_ batch: TokenBatch, model: Transformer<Float>, gradientScale: Float) throws -> (loss: Double, metrics: [String: Double])? {
        let loss = try measure(batch, model: model)
        if loss.meanLoss.isFinite { loss.backward(policy: model, batch: batch, scale: Double(gradientScale)) }
        return (loss.meanLoss, loss.metrics)
    }

    public func validate(_ batch: TokenBatch, model: Transformer<Float>) throws -> ValidationTotals {
        let loss = try measure(batch, model: model), P = Double(loss.pairCount), metrics = loss.metrics
        let T = batch.seqLen
        let chosenTokens = stride(from: 0, to: batch.batchSize, by: 2).reduce(0) { count, b in
            count + batch.targets[(b * T)..<((b + 1) * T)].filter { $0 != CrossEntropy.ignoreIndex }.count
        }
        return ValidationTotals(lossSum: loss.losses.reduce(0, +), count: loss.pairCount,
                                sums: metricNames.map { metrics[$0]! * P } + [-loss.policyChosen.reduce(0, +), Double(chosenTokens)])
    }

    /// Loss and metrics: means over the validation pairs; perplexity and tokens: those of the chosen replies.
    public func evalRecord(step: Int, totals: ValidationTotals) -> EvalRecord {
        let n = Double(totals.count), names = metricNames, chosenLoss = totals.sums[names.count], chosenTokens = totals.sums[names.count + 1]
        return EvalRecord(step: step, loss: totals.count > 0 ? totals.lossSum / n : .nan,
                          perplexity: exp(chosenTokens > 0 ? chosenLoss / chosenTokens : .nan), tokens: Int(chosenTokens),
                          metrics: Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, totals.sums[$0] / n) }))
    }

    private func measure(_ batch: TokenBatch, model: Transformer<Float>) throws -> PreferenceLoss {
        reference.matmulPrecision = model.matmulPrecision  // the Trainer sets the policy's from the run's precision
        return try PreferenceLoss.measure(policy: model, reference: reference, batch: batch, beta: beta)
    }
}
