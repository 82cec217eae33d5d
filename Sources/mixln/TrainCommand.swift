import ArgumentParser
import Foundation
import MixLNData
import MixLNDistributed
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `mixln train`: pre-trains a model on a corpus and writes a run directory.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pre-train a model with a chosen norm placement.",
        discussion: "Writes <out>/run.json (the run's record: resolved config, norm plan, every option, absolute paths; --resume rebuilds the run from it), <out>/metrics.jsonl (one JSON object per update and per evaluation) and <out>/summary.json.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Text file, folder, JSONL with a 'text' or 'input_ids' field, C4-layout .json.gz (file or folder), or a `mixln prepare` shard directory.")
    var data: String?

    @Option(help: "Tokenizer: 'byte' (256 byte ids + pad + eos), a SentencePiece .model file, or a tokenizer.json (or a folder holding one). Default: the tokenizer a `mixln prepare` shard directory carries, else byte.")
    var tokenizer: String?

    // Options a run records are optional here, so `--resume` can tell what was given (and must
    // match the run) from what was not (and is taken from the run); `newRecord` applies `Defaults`.
    @Option(help: "Number of optimizer updates (default: \(Defaults.steps)); with --resume, a larger number extends the run.") var steps: Int?
    @Option(help: "Sequences per forward/backward (micro-batch; default: \(Defaults.batchSize)).") var batchSize: Int?
    @Option(help: "Sequences per update (gradient accumulation when above --batch-size; default: --batch-size).") var totalBatchSize: Int?
    @Option(help: "Tokens per sequence (default: \(Defaults.seqLen)).") var seqLen: Int?
    @Option(help: "Peak learning rate (default: \(Defaults.lr)).") var lr: Double?
    @Option(help: "Warmup updates (linear from 0; default: --steps / 10).") var warmup: Int?
    @Option(help: "Schedule after warmup: cosine, linear, constant (default: \(Defaults.schedule)).") var schedule: String?
    @Option(help: "Floor of the schedule as a fraction of --lr (default: \(Defaults.minLrRatio)).") var minLrRatio: Double?
    @Option(help: "adam (official) or adamw (default: \(Defaults.optimizer)).") var optimizer: String?
    @Option(help: "Weight decay (L2 for adam, decoupled for adamw; default: 0).") var weightDecay: Double?
    @Option(help: "Clip the global gradient norm to this value (off by default).") var clip: Double?
    @Option(help: "Seed for init, data split and data order (default: \(Defaults.seed)).") var seed: UInt64?
    @Option(help: "Evaluate every N updates (0, the default: only at the end).") var evalEvery: Int?
    @Option(help: "At most this many validation batches per evaluation (default: all).") var evalBatches: Int?
    @Option(help: "Fraction of documents held out for validation (default: \(Defaults.valFraction)).") var valFraction: Double?
    @Flag(help: "Concatenate documents with eos instead of one padded document per sequence.") var packing = false
    @Option(help: "Threads (default: all cores; with --resume, the run's). Results are bit-identical only for the same thread count.") var threads: Int?
    @Option(help: "Run directory to write.") var out: String?
    @Option(help: "Save a checkpoint to <out>/checkpoints/step-N every N updates (0, the default: only at the end).") var saveEvery: Int?
    @Option(help: "Storage type of checkpoints, weights and Adam moments alike: f32 or bf16 (half the size; resuming from bf16 is not bit-identical). Default: \(Defaults.saveDtype).")
    var saveDtype: String?
    @OptionGroup var precisionOptions: PrecisionOptions
    @Option(help: "Continue the run in this directory from its last checkpoint, with the options run.json records. Options given with it must match the run, except --steps (a larger number extends it), --threads (with a warning), --save-every, --save-dtype, --stop-after and --json.")
    var resume: String?
    @Option(help: "Stop after this many updates in this invocation, saving a checkpoint (continue later with --resume).")
    var stopAfter: Int?
    @Flag(help: "Print the summary as one JSON document on stdout.") var json = false

    /// The defaults of the options a run records, in one place (applied by `newRecord`).
    enum Defaults {
        static let tokenizer = "byte"
        static let steps = 100
        static let batchSize = 8
        static let seqLen = 256
        static let lr = 1e-3
        static let schedule = "cosine"
        static let minLrRatio = 0.1
        static let optimizer = "adam"
        static let weightDecay = 0.0
        static let seed: UInt64 = 0
        static let evalEvery = 0
        static let valFraction = 0.05
        static let saveEvery = 0
        static let saveDtype = "f32"
        /// Warmup updates when `--warmup` is not given: a tenth of the run.
        static func warmup(steps: Int) -> Int { steps / 10 }
    }

    func run() throws {
        guard let group = try DataParallelLaunch.group() else { return }  // a rank with nothing to do
        let (summary, record) = try group.running { try train(command: CommandLine.arguments, group: group) }
        guard group.rank == 0 else { return }
        let scheme = record.normPlan.scheme
        if json {
            try JSONCoding.printDocument(summary)
        } else if summary.status == .stopped {
            print("\(scheme): stopped after \(summary.steps) of \(record.training.steps) steps; continue with: mixln train --resume \(resume ?? out ?? "<run>")")
        } else if let eval = summary.finalEval {
            print("\(scheme): \(summary.status.rawValue) after \(summary.steps) steps; validation loss \(fixed(eval.loss, 4)), perplexity \(fixed(eval.perplexity, 2))")
        } else {
            print("\(scheme): \(summary.status.rawValue) after \(summary.steps) steps; final training loss \(summary.finalLoss.map { fixed($0, 4) } ?? "n/a")")
        }
    }

    /// Trains (or, with `--resume`, continues) the run this command describes and returns its summary
    /// and its record, printing nothing on stdout — `compare` calls it in-process.
    /// - Parameters:
    ///   - command: the command line to record in a new run's `run.json` (for people; a resumed run
    ///     keeps the one it was started with).
    ///   - group: the ranks of a data-parallel run (`mpirun`); one process by default.
    func train(command: [String], group: ProcessGroup = .single()) throws -> (summary: TrainingSummary, record: RunRecord) {
        if let stopAfter, stopAfter < 1 { throw CLIError("--stop-after must be positive, got \(stopAfter)") }
        if threads == nil, group.size > 1 { Parallel.setThreadCount(group.defaultThreads()) }
        if let resume { return try resumeRun(resume, group: group) }
        let record = try newRecord(command: command)
        guard let out else { throw CLIError("--out is required (the run directory to write)") }
        return try execute(record, in: out, resumingFrom: nil, group: group)
    }

    /// The record of a new run from these options, `Defaults` filled in, paths made absolute, the
    /// model resolved, every option checked. Reads no data and writes nothing.
    func newRecord(command: [String]) throws -> RunRecord {
        guard let data else { throw CLIError("--data is required (a text file, a folder of .txt files, or JSONL)") }
        let tokenizerSpec = tokenizerSpec(try resolvedTokenizer())
        let tokenizer = try TokenizerLoader.load(path: tokenizerSpec)
        let config = try Self.trainingConfig(modelOptions, tokenizer: tokenizer)
        let plan = try modelOptions.resolvePlan(layers: config.numHiddenLayers)
        let steps = self.steps ?? Defaults.steps, seqLen = self.seqLen ?? Defaults.seqLen
        guard seqLen <= config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: seqLen, maximum: config.maxSequenceLength)
        }
        let schedule = self.schedule ?? Defaults.schedule, optimizer = self.optimizer ?? Defaults.optimizer
        guard let scheduleKind = LearningRateSchedule.Kind(rawValue: schedule) else {
            throw CLIError("--schedule must be one of \(LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let optimizerKind = OptimizerSettings.Kind(rawValue: optimizer) else {
            throw CLIError("--optimizer must be adam or adamw, got '\(optimizer)'")
        }
        let valFraction = self.valFraction ?? Defaults.valFraction
        guard (0..<1).contains(valFraction) else { throw CLIError("--val-fraction must be in [0, 1), got \(valFraction)") }
        if let threads, threads < 1 { throw CLIError("--threads must be positive, got \(threads)") }
        let options = TrainingOptions(
            steps: steps, microBatchSize: batchSize ?? Defaults.batchSize, totalBatchSize: totalBatchSize, seqLen: seqLen,
            schedule: LearningRateSchedule(kind: scheduleKind, peak: lr ?? Defaults.lr, warmupSteps: warmup ?? Defaults.warmup(steps: steps),
                                           totalSteps: steps, minRatio: minLrRatio ?? Defaults.minLrRatio),
            optimizer: OptimizerSettings(kind: optimizerKind, weightDecay: weightDecay ?? Defaults.weightDecay),
            clipGradNorm: clip, evalEvery: evalEvery ?? Defaults.evalEvery, evalBatches: evalBatches,
            saveEvery: saveEvery ?? Defaults.saveEvery, seed: seed ?? Defaults.seed, precision: try precisionOptions.resolved())
        try options.validate()
        let record = RunRecord(
            version: RunRecord.currentVersion, command: command,
            modelOptions: .init(model: modelSpec(modelOptions.model ?? ""),
                                norm: modelOptions.norm, postNum: modelOptions.postNum, layers: modelOptions.layers,
                                vocabSize: modelOptions.vocabSize, qkNorm: try modelOptions.resolvedQKNorm(),
                                gpas: modelOptions.gpas ? true : nil, normFn: try modelOptions.resolvedNormFn()?.name,
                                dytAlpha: try modelOptions.resolvedDytAlpha()),
            config: config, normPlan: plan, training: options, data: absolutePath(data), tokenizer: tokenizerSpec,
            tokenizerName: tokenizer.name, packing: packing, validationFraction: valFraction,
            threads: threads ?? Parallel.threadCount, saveDType: saveDtype ?? Defaults.saveDtype,
            parameters: 0, resumes: [])
        _ = try record.checkpointDType
        return record
    }

    /// The model config `train` builds for `options` and `tokenizer`: overrides applied, the pad row fixed.
    static func trainingConfig(_ options: ModelOptions, tokenizer: any Tokenizer) throws -> ModelConfig {
        var config = try options.resolveConfig(tokenizerVocabulary: tokenizer.vocabularySize)
        // The official pad_token_id = -1 freezes row V−1 at zero. When the tokenizer's ids reach that
        // row (a vocabulary sized to the tokenizer), it would freeze a real token — an all-zero
        // stream that Post-LN's 1/√ε amplifies in every layer's backward — so the tokenizer's own
        // pad id is frozen instead, when it is a token of its own and a row of the model (a pad id
        // past the model's rows leaves the official row). A pad id that is also a token the data
        // feeds in (GPT-2-style tokenizers pad with eos, which packing puts between documents) is
        // never frozen: then no row is.
        guard let row = config.embeddingPaddingRow, row < tokenizer.vocabularySize else { return config }
        let pad = tokenizer.padId
        let padIsDedicated = ![tokenizer.eosId, tokenizer.bosId, tokenizer.unkId].contains(pad)
        if !padIsDedicated {
            config.padTokenId = nil
        } else if Int(pad) != row, Int(pad) < config.vocabSize {
            config.padTokenId = Int(pad)
        }
        return config
    }

    /// Builds the run `record` describes in the run directory `out` — from the record alone, for a
    /// new run and a resumed one alike — and trains it, from `checkpoint` when given. Writes the
    /// record to `run.json` (a resumed run's once its checkpoint is restored, with the resume listed).
    /// Data parallel: every rank builds the same run; rank 0 alone writes files and shows progress.
    func execute(_ record: RunRecord, in out: String, resumingFrom checkpoint: String?,
                 group: ProcessGroup = .single()) throws -> (summary: TrainingSummary, record: RunRecord) {
        var record = record
        Parallel.setThreadCount(record.threads)
        let tokenizer = try TokenizerLoader.load(path: record.tokenizer)
        let checkpointDType = try record.checkpointDType
        let runDirectory = try RunDirectory(path: out, writes: group.rank == 0)

        let split = try record.loadSplit(using: tokenizer)
        guard !split.train.isEmpty else {
            throw CLIError("\(record.data): no training sequences (every document is shorter than 2 tokens)")
        }
        let model = try Transformer<Float>(config: record.config, plan: record.normPlan)
        model.initializeWeights(seed: record.training.seed)
        record.parameters = model.parameterCount
        let trainer = try Trainer(model: model, options: record.training, train: split.train, validation: split.validation)
        trainer.checkpointDirectory = group.rank == 0 ? runDirectory.url.appendingPathComponent("checkpoints").path : nil
        trainer.dataParallel = group.size > 1 ? group : nil
        trainer.checkpointDType = checkpointDType
        if let file = TokenizerFile(spec: record.tokenizer) {
            // tokenizer.json under its Hugging Face name; a SentencePiece file keeps its own (spiece.model, tokenizer.model).
            trainer.checkpointAttachments = [(file.source, file.name)]
        }

        if let checkpoint { try TrainingCheckpoint.restore(trainer, from: checkpoint) }
        try startDataParallel(trainer, record: &record, group: group, resuming: checkpoint != nil)
        if checkpoint != nil {
            record.version = RunRecord.currentVersion
            record.resumes.append(.init(atStep: trainer.step, steps: record.training.steps, threads: record.threads, ranks: record.ranks))
            try runDirectory.writeJSON(record, to: "run.json")
            try runDirectory.resumeMetrics(afterStep: trainer.step)
        } else {
            try runDirectory.writeJSON(record, to: "run.json")
            try runDirectory.startMetrics()
        }
        let summary = try runTrainer(trainer, in: runDirectory, label: record.normPlan.scheme, stopAfter: stopAfter,
                                     showsProgress: group.rank == 0)
        return (summary, record)
    }
}

/// Ctrl-C asks a run to stop at the next update boundary (saving a checkpoint); a second one exits at once.
enum Interrupt {
    nonisolated(unsafe) static var requested = false

    static func install() {
        signal(SIGINT) { _ in
            Interrupt.requested = true
            signal(SIGINT, SIG_DFL)
        }
    }
}
