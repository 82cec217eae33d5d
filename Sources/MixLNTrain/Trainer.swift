import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Runs the training loop: gradient accumulation, clipping, Adam, schedule, evaluation, divergence.
///
/// Deterministic for a seed and thread count: the same options and data give bit-identical losses.
/// It never prints; everything it has to say goes to `onEvent`. It sets the model's matmul
/// precision from `options.precision` (and keeps the optimizer's state in bf16 for `bf16-pure`).
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
    ///   - train: training sequences (built, or read from shards as batches need them), served in a seeded order
    ///   - validation: held-out sequences (nil or empty: no evaluation)
    public init(model: Transformer<Float>, options: TrainingOptions, train: any SequenceSource,
                validation: (any SequenceSource)?) throws {
        try options.validate()
        guard !train.isEmpty else { throw TrainingError.noTrainingData("the training split holds no sequences") }
        guard options.seqLen <= model.config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: options.seqLen, maximum: model.config.maxSequenceLength)
        }
        for source in [train] + (validation.map { [$0] } ?? []) {
            if let built = source as? [TokenSequence], let bad = built.first(where: { $0.tokens.count != options.seqLen }) {
                throw TrainingError.invalidOption("a sequence has \(bad.tokens.count) tokens but --seq-len is \(options.seqLen)")
            }
            if !source.isEmpty, source.seqLen != options.seqLen {
                throw TrainingError.invalidOption("the sequences have \(source.seqLen) tokens but --seq-len is \(options.seqLen)")
            }
        }
        self.model = model
        self.options = options
        model.matmulPrecision = options.precision.matmul
        optimizer = AdamOptimizer(parameterCount: model.parameterCount, settings: options.optimizer,
                                  roundsToBFloat16: options.precision.storesStateInBFloat16)
        trainLoader = BatchLoader(source: train, batchSize: options.microBatchSize, seed: options.seed)
        if let validation, !validation.isEmpty {
            self.validation = BatchLoader(source: validation, batchSize: options.microBatchSize, seed: options.seed, shuffle: false)
        } else {
            self.validation = nil
        }
    }

    /// The run's position, as a checkpoint records it.
    public var state: TrainingState {
        TrainingState(step: step, tokens: tokensSeen, dataPosition: trainLoader.position, optimizerSteps: optimizer.stepCount,
                      seed: options.seed, trainSequences: trainLoader.sequenceCount,
                      validationSequences: validation?.sequenceCount ?? 0, lastLoss: lastLoss, lastEval: lastEval)
    }

    /// Continues from a saved position (weights and moments are restored by `TrainingCheckpoint`).
    func restore(_ state: TrainingState) throws {
        guard state.seed == options.seed, state.trainSequences == trainLoader.sequenceCount,
              state.validationSequences == (validation?.sequenceCount ?? 0) else {
            throw TrainingError.invalidOption("the checkpoint was trained on different data or with another seed "
                + "(\(state.trainSequences) train sequences, seed \(state.seed); this run has \(trainLoader.sequenceCount), seed \(options.seed))")
        }
        guard state.step <= options.steps else {
            throw TrainingError.invalidOption("the checkpoint is at step \(state.step), past this run's \(options.steps) steps")
        }
        step = state.step
        tokensSeen = state.tokens
        trainLoader.position = state.dataPosition
        optimizer.restore(stepCount: state.optimizerSteps)
        lastLoss = state.lastLoss
        lastEval = state.lastEval
    }

    /// Where `checkpoints/step-N` folders go (nil: no checkpoints).
    public var checkpointDirectory: String?
    /// Files copied into every checkpoint under a name (the tokenizer file, so a checkpoint is self-contained).
    public var checkpointAttachments: [(source: String, name: String)] = []
    /// Storage type of checkpointed weights and moments.
    public var checkpointDType: SafeTensorsDType = .float32
    /// The ranks of a data-parallel run (nil: one process); see `Trainer+DataParallel.swift`.
    public var dataParallel: (any DataParallelGroup)?
    /// Most floats summed over the ranks in one call.
    public var reductionBucket = 1 << 24
    private var lastLoss: Double?
    private var lastEval: EvalRecord?

    /// Trains until `options.steps` updates (evaluating every `evalEvery` and at the end), saving a
    /// checkpoint every `saveEvery` updates and at the end.
    ///
    /// - Parameters:
    ///   - stopAfter: at most this many updates in this call; then a checkpoint is saved and the
    ///     summary says `stopped` (resume continues exactly).
    ///   - shouldStop: polled between updates (e.g. after Ctrl-C); stops the same way.
    @discardableResult
    public func run(stopAfter: Int? = nil, shouldStop: () -> Bool = { false },
                    onEvent: (TrainingEvent) -> Void) throws -> TrainingSummary {
        try validateDataParallel()
        let start = Date()
        let firstStep = step
        let tokensPerStep = options.totalBatchSize * options.seqLen
        onEvent(.started(RunInfo(parameters: model.parameterCount, trainSequences: trainLoader.sequenceCount,
                                 validationSequences: validation?.sequenceCount ?? 0, steps: options.steps,
                                 tokensPerStep: tokensPerStep, startStep: step)))
        func summary(_ status: TrainingSummary.Status, divergedAt: Int? = nil) -> TrainingSummary {
            TrainingSummary(status: status, steps: step, finalLoss: lastLoss, finalEval: lastEval, divergedAt: divergedAt,
                            elapsedSeconds: Date().timeIntervalSince(start), tokens: tokensSeen)
        }
        while step < options.steps {
            if try agreeToStop(shouldStop()) || stopAfter.map({ step - firstStep >= $0 }) ?? false {
                try saveCheckpoint(onEvent)
                let result = summary(.stopped)
                onEvent(.done(result))
                return result
            }
            let stepStart = Date()
            let lr = options.schedule.rate(at: step)
            var sums = try accumulateGradients()
            let reduceSeconds = try reduceGradients(loss: &sums)  // all ranks' gradients, before norms and clipping
            let loss = sums.counted > 0 ? sums.total / Double(sums.counted) : .nan
            let norms = model.gradientNorms()
            if !loss.isFinite || !norms.total.isFinite {
                onEvent(.diverged(DivergenceRecord(step: step + 1, loss: loss, gradNorm: norms.total.isFinite ? norms.total : nil)))
                try saveCheckpoint(onEvent)  // the weights before the failed update, for analysis
                let result = summary(.diverged, divergedAt: step + 1)
                onEvent(.done(result))
                return result
            }
            if let clip = options.clipGradNorm, norms.total > clip {
                VectorMath.scale(model.gradients.pointer, Float(clip / norms.total), model.parameterCount)
            }
            optimizer.step(model, lr: lr)
            step += 1
            tokensSeen += tokensPerStep
            lastLoss = loss
            let now = Date()
            onEvent(.step(StepRecord(
                step: step, loss: loss, lr: lr, gradNorm: norms.total,
                gradNorms: GradientNormSummary(embedding: norms.embedding, layers: norms.layers.map(\.gradNorm),
                                               finalNorm: norms.finalNorm, lmHead: norms.lmHead),
                tokens: tokensSeen, tokensPerSecond: Double(tokensPerStep) / now.timeIntervalSince(stepStart),
                elapsedSeconds: now.timeIntervalSince(start), allReduceSeconds: reduceSeconds)))
            let evalDue = options.evalEvery > 0 && step % options.evalEvery == 0
            if validation != nil, evalDue || step == options.steps {
                let record = try evaluate()
                lastEval = record
                onEvent(.eval(record))
            }
            if options.saveEvery > 0, step % options.saveEvery == 0, step < options.steps { try saveCheckpoint(onEvent) }
        }
        try saveCheckpoint(onEvent)
        let result = summary(.completed)
        onEvent(.done(result))
        return result
    }

    private func saveCheckpoint(_ onEvent: (TrainingEvent) -> Void) throws {
        guard let checkpointDirectory else { return }
        let path = (checkpointDirectory as NSString).appendingPathComponent(TrainingCheckpoint.name(step: step))
        try TrainingCheckpoint.save(self, to: path, dtype: checkpointDType)
        onEvent(.checkpoint(CheckpointRecord(step: step, path: path)))
    }

    /// Zeroes the gradients and accumulates those of one update's micro-batches (this rank's share of
    /// them, stepping over the others), each scaled by 1/accumulation as the official script does.
    /// Returns the sum of the losses of the micro-batches that predict anything and their number (the
    /// mean is nan when none does, which ends the run as diverged). After a non-finite loss the rest
    /// of the update's micro-batches are only stepped over.
    private func accumulateGradients() throws -> (total: Double, counted: Int) {
        model.zeroGradients()
        let accumulation = options.accumulationSteps, share = microBatchShare
        var lossTotal = 0.0, counted = 0
        for k in 0..<accumulation {
            guard share.contains(k), lossTotal.isFinite else {
                trainLoader.skip(options.microBatchSize)
                continue
            }
            let batch = trainLoader.next()
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets,
                                         batch: batch.batchSize, seqLen: batch.seqLen)
            if model.lastPredictedCount == 0 { continue }
            lossTotal += loss
            counted += 1
            if !loss.isFinite { continue }
            model.backward(lossScale: 1 / Float(accumulation))
        }
        return (lossTotal, counted)
    }

    /// Loss and perplexity over the validation split (mean over every predicted token).
    public func evaluate() throws -> EvalRecord {
        guard let validation else { throw TrainingError.noTrainingData("there is no validation split to evaluate on") }
        var lossSum = 0.0, count = 0
        for (i, batch) in validation.batches(limit: options.evalBatches).enumerated() where evaluates(batch: i) {
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen,
                                         retaining: .loss)  // forward only: a `.backward` forward differentiates the LM head too
            let n = model.lastPredictedCount
            if n > 0 {
                lossSum += loss * Double(n)
                count += n
            }
        }
        try reduceEvaluation(lossSum: &lossSum, count: &count)
        let mean = count > 0 ? lossSum / Double(count) : .nan
        return EvalRecord(step: step, loss: mean, perplexity: Foundation.exp(mean), tokens: count)
    }
}
