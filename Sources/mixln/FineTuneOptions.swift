import ArgumentParser
import MixLNTrain

/// The schedule, batch, evaluation and checkpoint options of `train`, for the commands that
/// fine-tune a trained model (`sft`). Defaults are `train`'s, except the learning rate: a
/// fine-tuning run starts from trained weights and takes smaller steps.
struct FineTuneOptions: ParsableArguments {
    static let defaultLearningRate = 1e-4

    @Option(help: "Number of optimizer updates.") var steps: Int = TrainCommand.Defaults.steps
    @Option(help: "Sequences per forward/backward (micro-batch).") var batchSize: Int = TrainCommand.Defaults.batchSize
    @Option(help: "Sequences per update (gradient accumulation when above --batch-size; default: --batch-size).") var totalBatchSize: Int?
    @Option(help: "Tokens per sequence; longer records are cut (default: \(TrainCommand.Defaults.seqLen), at most the model's max_sequence_length).")
    var seqLen: Int?
    @Option(help: "Peak learning rate.") var lr: Double = FineTuneOptions.defaultLearningRate
    @Option(help: "Warmup updates (linear from 0; default: --steps / 10).") var warmup: Int?
    @Option(help: "Schedule after warmup: cosine, linear, constant.") var schedule: String = TrainCommand.Defaults.schedule
    @Option(help: "Floor of the schedule as a fraction of --lr.") var minLrRatio: Double = TrainCommand.Defaults.minLrRatio
    @Option(help: "adam or adamw.") var optimizer: String = TrainCommand.Defaults.optimizer
    @Option(help: "Weight decay (L2 for adam, decoupled for adamw).") var weightDecay: Double = TrainCommand.Defaults.weightDecay
    @Option(help: "Clip the global gradient norm to this value (off by default).") var clip: Double?
    @Option(help: "Seed for the validation split and the data order.") var seed: UInt64 = TrainCommand.Defaults.seed
    @Option(help: "Evaluate every N updates (0: only at the end).") var evalEvery: Int = TrainCommand.Defaults.evalEvery
    @Option(help: "At most this many validation batches per evaluation (default: all).") var evalBatches: Int?
    @Option(help: "Fraction of records held out for validation.") var valFraction: Double = TrainCommand.Defaults.valFraction
    @Option(help: "Run directory to write.") var out: String
    @Option(help: "Save a checkpoint to <out>/checkpoints/step-N every N updates (0: only at the end).") var saveEvery: Int = TrainCommand.Defaults.saveEvery
    @Option(help: "Storage type of checkpoints: f32 or bf16.") var saveDtype: String = TrainCommand.Defaults.saveDtype
    @Option(help: "Stop after this many updates in this invocation, saving a checkpoint.") var stopAfter: Int?

    /// The training options these flags give for a model whose window is `maxSequenceLength`.
    func trainingOptions(maxSequenceLength: Int) throws -> TrainingOptions {
        let seqLen = self.seqLen ?? min(TrainCommand.Defaults.seqLen, maxSequenceLength)
        guard seqLen <= maxSequenceLength else {
            throw CLIError("--seq-len \(seqLen) is more than the model's max_sequence_length \(maxSequenceLength)")
        }
        guard let scheduleKind = LearningRateSchedule.Kind(rawValue: schedule) else {
            throw CLIError("--schedule must be one of \(LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let optimizerKind = OptimizerSettings.Kind(rawValue: optimizer) else {
            throw CLIError("--optimizer must be adam or adamw, got '\(optimizer)'")
        }
        guard (0..<1).contains(valFraction) else { throw CLIError("--val-fraction must be in [0, 1), got \(valFraction)") }
        if let stopAfter, stopAfter < 1 { throw CLIError("--stop-after must be positive, got \(stopAfter)") }
        guard RunRecord.saveDTypes[saveDtype] != nil else { throw CLIError("--save-dtype must be f32 or bf16, got '\(saveDtype)'") }
        let options = TrainingOptions(
            steps: steps, microBatchSize: batchSize, totalBatchSize: totalBatchSize, seqLen: seqLen,
            schedule: LearningRateSchedule(kind: scheduleKind, peak: lr, warmupSteps: warmup ?? TrainCommand.Defaults.warmup(steps: steps),
                                           totalSteps: steps, minRatio: minLrRatio),
            optimizer: OptimizerSettings(kind: optimizerKind, weightDecay: weightDecay),
            clipGradNorm: clip, evalEvery: evalEvery, evalBatches: evalBatches, saveEvery: saveEvery, seed: seed)
        try options.validate()
        return options
    }
}
