import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Runs the training loop: gradient accumulation, clipping, Adam, schedule, evaluation, divergence;
/// what each micro-batch minimizes is its `objective` (next-token cross-entropy unless given).
///
/// Deterministic for a seed and thread count: the same options and data give bit-identical losses.
/// It never prints; everything it has to say goes to `onEvent`. It sets the model's matmul
/// precision from `options.precision` (and keeps the optimizer's state in bf16 for `bf16-pure`).
public final class Trainer {
    public let model: Transformer<Float>
    public let options: TrainingOptions
    public let optimizer: AdamOptimizer<Float>
    /// The loss each micro-batch's forward and backward computes, and the validation measure.
    public let objective: any TrainingObjective
    let trainLoader: BatchLoader
    let validation: BatchLoader?
    /// Updates completed so far.
    public private(set) var step = 0
    private var tokensSeen = 0

    /// - Parameters:
    ///   - train: training sequences (built, or read from shards as batches need them), served in a seeded order
    ///   - validation: held-out sequences (nil or empty: no evaluation)
    ///   - objective: what to minimize; its `sequencesPerExample` consecutive sequences form one
    ///     example, and `options.microBatchSize` counts examples
    public init(model: Transformer<Float>, options: TrainingOptions, train: any SequenceSource,
                validation: (any SequenceSource)?, objective: any TrainingObjective = CrossEntropyObjective()) throws {
        try options.validate()
        guard !train.isEmpty else { throw TrainingError.noTrainingData("the training split holds no sequences") }
        let group = objective.sequencesPerExample
        for source in [train] + (validation.map { [$0] } ?? []) where source.count % group != 0 {
            throw TrainingError.invalidOption("the objective takes examples of \(group) sequences, but a split holds \(source.count)")
        }
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
        self.objective = objective
        model.matmulPrecision = options.precision.matmul
        optimizer = AdamOptimizer(parameterCount: model.parameterCount, settings: options.optimizer,
                                  roundsToBFloat16: options.precision.storesStateInBFloat16)
        trainLoader = BatchLoader(source: train, batchSize: options.microBatchSize, seed: options.seed, groupSize: group)
        if let validation, !validation.isEmpty {
            self.validation = BatchLoader(source: validation, batchSize: options.microBatchSize, seed: options.seed, shuffle: false,
                                          groupSize: group)
        } else {
            self.validation = nil
        }
    }

    /// The run's position, as a checkpoint records it.
    public var state: TrainingState {
        TrainingState(step: step, tokens: tokensSeen, dataPosition: trainLoader.position, optimizerSteps: optimizer.stepCount,
                      seed: options.seed, trainSequences: trainLoader.sequenceCount,
                      validationSequences: validation?.sequenceCount ?? 0, lastLoss: lastLoss, lastEval: lastEval,
                      trainingSeconds: trainingSeconds)
    }

    /// Wall seconds spent training so far: restored checkpoints, finished `run` calls and the one in progress.
    var trainingSeconds: Double {
        secondsBeforeThisRun + (runStart.map { Date().timeIntervalSince($0) } ?? 0)
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
        if let seconds = state.trainingSeconds, !(seconds >= 0 && seconds.isFinite) {
            throw TrainingError.invalidOption("the checkpoint's training_seconds is \(seconds); it must be a number ≥ 0")
        }
        step = state.step
        tokensSeen = state.tokens
        trainLoader.position = state.dataPosition
        optimizer.restore(stepCount: state.optimizerSteps)
        lastLoss = state.lastLoss
        lastEval = state.lastEval
        secondsBeforeThisRun = state.trainingSeconds ?? 0
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
    /// Training seconds of earlier processes (from the checkpoint) and earlier `run` calls.
    private var secondsBeforeThisRun = 0.0
    /// When the `run` in progress started (nil between runs).
    private var runStart: Date?

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
        runStart = start
        defer {
            secondsBeforeThisRun += Date().timeIntervalSince(start)
            runStart = nil
        }
        let firstStep = step
        let tokensPerStep = options.totalBatchSize * objective.sequencesPerExample * options.seqLen
        onEvent(.started(RunInfo(parameters: model.parameterCount, trainSequences: trainLoader.sequenceCount,
                                 validationSequences: validation?.sequenceCount ?? 0, steps: options.steps,
                                 tokensPerStep: tokensPerStep, startStep: step)))
        func summary(_ status: TrainingSummary.Status, divergedAt: Int? = nil) -> TrainingSummary {
            TrainingSummary(status: status, steps: step, finalLoss: lastLoss, finalEval: lastEval, divergedAt: divergedAt,
                            elapsedSeconds: trainingSeconds, tokens: tokensSeen)
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
            let metrics = Dictionary(uniqueKeysWithValues: zip(objective.metricNames, sums.metrics.map { $0 / Double(sums.counted) }))
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
                elapsedSeconds: now.timeIntervalSince(start), allReduceSeconds: reduceSeconds, metrics: metrics)))
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
    /// Returns the sum of the losses of the micro-batches that predict anything, their number (the
    /// mean is nan when none does, which ends the run as diverged) and the sums of their metrics
    /// (`objective.metricNames`). After a non-finite loss the rest of the update's micro-batches are
    /// only stepped over.
    private func accumulateGradients() throws -> StepSums {
        model.zeroGradients()
        let accumulation = options.accumulationSteps, share = microBatchShare
        var sums = StepSums(total: 0, counted: 0, metrics: [Double](repeating: 0, count: objective.metricNames.count))
        for k in 0..<accumulation {
            guard share.contains(k), sums.total.isFinite else {
                trainLoader.skip(options.microBatchSize)
                continue
            }
            let batch = trainLoader.next()
            guard let result = try objective.train(batch, model: model, gradientScale: 1 / Float(accumulation)) else { continue }
            sums.total += result.loss
            sums.counted += 1
            for (i, name) in objective.metricNames.enumerated() { sums.metrics[i] += result.metrics[name] ?? .nan }
        }
        return sums
    }

    /// The objective's validation loss (cross-entropy: the mean over every predicted token, and its
    /// perplexity) over the validation split.
    public func evaluate() throws -> EvalRecord {
        guard let validation else { throw TrainingError.noTrainingData("there is no validation split to evaluate on") }
        var totals = ValidationTotals(sums: [Double](repeating: 0, count: objective.validationSumCount))
        for (i, batch) in validation.batches(limit: options.evalBatches).enumerated() where evaluates(batch: i) {
            totals.add(try objective.validate(batch, model: model))
        }
        try reduceEvaluation(&totals)
        return objective.evalRecord(step: step, totals: totals)
    }
}

/// One update's sums over its micro-batches: their losses, how many predicted anything, and the
/// sums of the objective's metrics.
struct StepSums {
    var total: Double
    var counted: Int
    var metrics: [Double]
}
