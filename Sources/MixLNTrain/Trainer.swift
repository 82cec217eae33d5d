import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Runs the training loop: gradient accumulation, clipping, Adam, schedule, evaluation, divergence.
///
/// Deterministic for a seed and thread count: the same options and data give bit-identical losses.
/// It never prints; everything it has to say goes to `onEvent`.
public final class Trainer {
    public let model: Transformer<Float>
    public let options: TrainingOptions
    public let optimizer: AdamOptimizer<Float>
    let trainLoader: BatchLoader
    let validation: BatchLoader?
    /// Updates completed so far.
    public private(set) var step = 0
    private var tokensSeen = 0

    /// - Parameters:
    ///   - train: training sequences, served in a seeded order
    ///   - validation: held-out sequences (nil or empty: no evaluation)
    public init(model: Transformer<Float>, options: TrainingOptions, train: [TokenSequence],
                validation: [TokenSequence]?) throws {
        try options.validate()
        guard !train.isEmpty else { throw TrainingError.noTrainingData("the training split holds no sequences") }
        guard options.seqLen <= model.config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: options.seqLen, maximum: model.config.maxSequenceLength)
        }
        for sequence in train + (validation ?? []) where sequence.tokens.count != options.seqLen {
            throw TrainingError.invalidOption("a sequence has \(sequence.tokens.count) tokens but --seq-len is \(options.seqLen)")
        }
        self.model = model
        self.options = options
        optimizer = AdamOptimizer(parameterCount: model.parameterCount, settings: options.optimizer)
        trainLoader = BatchLoader(sequences: train, batchSize: options.microBatchSize, seed: options.seed)
        if let validation, !validation.isEmpty {
            self.validation = BatchLoader(sequences: validation, batchSize: options.microBatchSize, seed: options.seed, shuffle: false)
        } else {
            self.validation = nil
        }
    }

    /// Trains for `options.steps` updates (evaluating every `evalEvery` and at the end).
    @discardableResult
    public func run(onEvent: (TrainingEvent) -> Void) throws -> TrainingSummary {
        let start = Date()
        let tokensPerStep = options.totalBatchSize * options.seqLen
        onEvent(.started(RunInfo(parameters: model.parameterCount, trainSequences: trainLoader.sequenceCount,
                                 validationSequences: validation?.sequenceCount ?? 0, steps: options.steps,
                                 tokensPerStep: tokensPerStep)))
        var lastLoss: Double?
        var lastEval: EvalRecord?
        while step < options.steps {
            let stepStart = Date()
            let lr = options.schedule.rate(at: step)
            let loss = try accumulateGradients()
            let norms = model.gradientNorms()
            if !loss.isFinite || !norms.total.isFinite {
                let record = DivergenceRecord(step: step + 1, loss: loss, gradNorm: norms.total.isFinite ? norms.total : nil)
                onEvent(.diverged(record))
                let summary = TrainingSummary(status: .diverged, steps: step, finalLoss: lastLoss, finalEval: lastEval,
                                              divergedAt: step + 1, elapsedSeconds: Date().timeIntervalSince(start),
                                              tokens: tokensSeen)
                onEvent(.done(summary))
                return summary
            }
            if let clip = options.clipGradNorm, norms.total > clip {
                VectorMath.scale(model.gradients.pointer, Float(clip / norms.total), model.parameterCount)
            }
            optimizer.step(parameters: model.parameters, gradients: model.gradients, lr: lr)
            step += 1
            tokensSeen += tokensPerStep
            lastLoss = loss
            let now = Date()
            onEvent(.step(StepRecord(
                step: step, loss: loss, lr: lr, gradNorm: norms.total,
                gradNorms: GradientNormSummary(embedding: norms.embedding, layers: norms.layers.map(\.gradNorm),
                                               finalNorm: norms.finalNorm, lmHead: norms.lmHead),
                tokens: tokensSeen, tokensPerSecond: Double(tokensPerStep) / now.timeIntervalSince(stepStart),
                elapsedSeconds: now.timeIntervalSince(start))))
            let evalDue = options.evalEvery > 0 && step % options.evalEvery == 0
            if validation != nil, evalDue || step == options.steps {
                let record = try evaluate()
                lastEval = record
                onEvent(.eval(record))
            }
        }
        let summary = TrainingSummary(status: .completed, steps: step, finalLoss: lastLoss, finalEval: lastEval,
                                      divergedAt: nil, elapsedSeconds: Date().timeIntervalSince(start), tokens: tokensSeen)
        onEvent(.done(summary))
        return summary
    }

    /// Zeroes the gradients and accumulates those of one update's micro-batches, each scaled by
    /// 1/accumulation as the official script does. Returns the mean loss of the micro-batches that
    /// predict anything (nan when none does, which ends the run as diverged).
    private func accumulateGradients() throws -> Double {
        model.zeroGradients()
        let accumulation = options.accumulationSteps
        var lossTotal = 0.0, counted = 0
        for _ in 0..<accumulation {
            let batch = trainLoader.next()
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets,
                                         batch: batch.batchSize, seqLen: batch.seqLen)
            if model.lastPredictedCount == 0 { continue }
            lossTotal += loss
            counted += 1
            if !loss.isFinite { return loss }
            model.backward(lossScale: 1 / Float(accumulation))
        }
        return counted > 0 ? lossTotal / Double(counted) : .nan
    }

    /// Loss and perplexity over the validation split (mean over every predicted token).
    public func evaluate() throws -> EvalRecord {
        guard let validation else { throw TrainingError.noTrainingData("there is no validation split to evaluate on") }
        var lossSum = 0.0, count = 0
        for batch in validation.batches(limit: options.evalBatches) {
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen)
            let n = model.lastPredictedCount
            if n > 0 {
                lossSum += loss * Double(n)
                count += n
            }
        }
        let mean = count > 0 ? lossSum / Double(count) : .nan
        return EvalRecord(step: step, loss: mean, perplexity: Foundation.exp(mean), tokens: count)
    }
}
