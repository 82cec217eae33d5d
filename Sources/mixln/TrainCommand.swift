import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `mixln train`: pre-trains a model on a corpus and writes a run directory.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Pre-train a model with a chosen norm placement.",
        discussion: "Writes <out>/run.json (resolved config and norm plan), <out>/metrics.jsonl (one JSON object per update and per evaluation) and <out>/summary.json.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Text file, folder, JSONL with a 'text' or 'input_ids' field, C4-layout .json.gz (file or folder), or a `mixln prepare` shard directory.")
    var data: String?

    @Option(help: "Tokenizer: 'byte' (256 byte ids + pad + eos), a SentencePiece .model file, or a tokenizer.json (or a folder holding one). Default: the tokenizer a `mixln prepare` shard directory carries, else byte.")
    var tokenizer: String?

    @Option(help: "Number of optimizer updates.") var steps: Int = 100
    @Option(help: "Sequences per forward/backward (micro-batch).") var batchSize: Int = 8
    @Option(help: "Sequences per update (gradient accumulation when above --batch-size).") var totalBatchSize: Int?
    @Option(help: "Tokens per sequence.") var seqLen: Int = 256
    @Option(help: "Peak learning rate.") var lr: Double = 1e-3
    @Option(help: "Warmup updates (linear from 0).") var warmup: Int?
    @Option(help: "Schedule after warmup: cosine, linear, constant.") var schedule: String = "cosine"
    @Option(help: "Floor of the schedule as a fraction of --lr.") var minLrRatio: Double = 0.1
    @Option(help: "adam (official) or adamw.") var optimizer: String = "adam"
    @Option(help: "Weight decay (L2 for adam, decoupled for adamw).") var weightDecay: Double = 0
    @Option(help: "Clip the global gradient norm to this value (off by default).") var clip: Double?
    @Option(help: "Seed for init, data split and data order.") var seed: UInt64 = 0
    @Option(help: "Evaluate every N updates (0: only at the end).") var evalEvery: Int = 0
    @Option(help: "At most this many validation batches per evaluation.") var evalBatches: Int?
    @Option(help: "Fraction of documents held out for validation.") var valFraction: Double = 0.05
    @Flag(help: "Concatenate documents with eos instead of one padded document per sequence.") var packing = false
    @Option(help: "Threads (default: all cores). Results are bit-identical only for the same thread count.") var threads: Int?
    @Option(help: "Run directory to write.") var out: String?
    @Option(help: "Save a checkpoint to <out>/checkpoints/step-N every N updates (0: only at the end).") var saveEvery: Int = 0
    @Option(help: "Storage type of checkpointed weights and moments: f32 or bf16.") var saveDtype: String = "f32"
    @Option(help: "Continue the run in this directory from its last checkpoint, with the options it was started with.")
    var resume: String?
    @Option(help: "Stop after this many updates in this invocation, saving a checkpoint (continue later with --resume).")
    var stopAfter: Int?
    @Flag(help: "Print the summary as one JSON document on stdout.") var json = false

    func run() throws {
        let (summary, scheme) = try train(command: CommandLine.arguments)
        if json {
            try JSONCoding.printDocument(summary)
        } else if summary.status == .stopped {
            print("\(scheme): stopped after \(summary.steps) of \(steps) steps; continue with: mixln train --resume \(resume ?? out ?? "<run>")")
        } else if let eval = summary.finalEval {
            print("\(scheme): \(summary.status.rawValue) after \(summary.steps) steps; validation loss \(fixed(eval.loss, 4)), perplexity \(fixed(eval.perplexity, 2))")
        } else {
            print("\(scheme): \(summary.status.rawValue) after \(summary.steps) steps; final training loss \(summary.finalLoss.map { fixed($0, 4) } ?? "n/a")")
        }
    }

    /// Trains (or, with `--resume`, continues) the run this command describes and returns its summary
    /// and the plan's scheme name, printing nothing on stdout — `compare` calls it in-process.
    /// - Parameter command: the command line recorded in `run.json` (what `--resume` re-parses).
    func train(command: [String]) throws -> (summary: TrainingSummary, scheme: String) {
        if let resume {
            return try resumeRun(resume)
        } else {
            return try execute(resumingFrom: nil, command: command)
        }
    }

    /// Rebuilds the original command from `run.json`, checks that nothing given here contradicts
    /// it, and continues from the newest complete checkpoint.
    private func resumeRun(_ runPath: String) throws -> (summary: TrainingSummary, scheme: String) {
        let runFile = (runPath as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: runFile),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let command = object["command"] as? [String], command.count >= 2 else {
            throw CLIError("\(runPath) is not a run directory (no readable run.json)")
        }
        var original = try TrainCommand.parse(Array(command.dropFirst(2)))
        if let model = modelOptions.model, model != original.modelOptions.model {
            throw CLIError("\(runPath) was trained with --model \(original.modelOptions.model ?? "?"), not \(model)")
        }
        if let norm = modelOptions.norm, norm != (original.modelOptions.norm ?? "pre") {
            throw CLIError("\(runPath) was trained with --norm \(original.modelOptions.norm ?? "pre"), not \(norm)")
        }
        if let data = self.data, data != original.data {
            throw CLIError("\(runPath) was trained on --data \(original.data ?? "?"), not \(data)")
        }
        guard let checkpoint = TrainingCheckpoint.checkpoints(in: runPath).last else {
            throw CLIError("\(runPath) has no complete checkpoint to resume from")
        }
        original.out = runPath
        original.stopAfter = stopAfter
        original.json = json
        original.resume = nil
        return try original.execute(resumingFrom: checkpoint, command: command)
    }

    private func execute(resumingFrom checkpoint: String?, command: [String]) throws -> (summary: TrainingSummary, scheme: String) {
        guard let data else { throw CLIError("--data is required (a text file, a folder of .txt files, or JSONL)") }
        guard let out else { throw CLIError("--out is required (the run directory to write)") }
        if let threads { Parallel.setThreadCount(threads) }
        let tokenizerSpec = try self.tokenizerSpec()
        let tokenizer = try TokenizerLoader.load(path: tokenizerSpec)
        var config = try modelOptions.resolveConfig(tokenizerVocabulary: tokenizer.vocabularySize)
        // The official pad_token_id = -1 freezes row V−1 at zero. When the tokenizer's ids reach that
        // row (a vocabulary sized to the tokenizer), it would freeze a real token — an all-zero
        // stream that Post-LN's 1/√ε amplifies in every layer's backward — so the tokenizer's own
        // pad id is frozen instead (when it is a row of the model at all).
        if let row = config.embeddingPaddingRow, row < tokenizer.vocabularySize, row != Int(tokenizer.padId),
           Int(tokenizer.padId) < config.vocabSize {
            config.padTokenId = Int(tokenizer.padId)
        }
        let plan = try modelOptions.resolvePlan(layers: config.numHiddenLayers)
        guard seqLen <= config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: seqLen, maximum: config.maxSequenceLength)
        }
        guard let scheduleKind = LearningRateSchedule.Kind(rawValue: schedule) else {
            throw CLIError("--schedule must be one of \(LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let optimizerKind = OptimizerSettings.Kind(rawValue: optimizer) else {
            throw CLIError("--optimizer must be adam or adamw, got '\(optimizer)'")
        }
        guard (0..<1).contains(valFraction) else { throw CLIError("--val-fraction must be in [0, 1), got \(valFraction)") }
        guard let checkpointDType = ["f32": SafeTensorsDType.float32, "bf16": .bfloat16][saveDtype] else {
            throw CLIError("--save-dtype must be f32 or bf16, got '\(saveDtype)'")
        }
        if let stopAfter, stopAfter < 1 { throw CLIError("--stop-after must be positive, got \(stopAfter)") }
        let options = TrainingOptions(
            steps: steps, microBatchSize: batchSize, totalBatchSize: totalBatchSize, seqLen: seqLen,
            schedule: LearningRateSchedule(kind: scheduleKind, peak: lr, warmupSteps: warmup ?? steps / 10,
                                           totalSteps: steps, minRatio: minLrRatio),
            optimizer: OptimizerSettings(kind: optimizerKind, weightDecay: weightDecay),
            clipGradNorm: clip, evalEvery: evalEvery, evalBatches: evalBatches, saveEvery: saveEvery, seed: seed)
        try options.validate()
        let runDirectory = try RunDirectory(path: out)

        let split = try loadSplit(data: data, tokenizer: tokenizer, modelVocabulary: config.vocabSize,
                                  options: SequenceOptions(seqLen: seqLen, packing: packing))
        guard !split.train.isEmpty else {
            throw CLIError("\(data): no training sequences (every document is shorter than 2 tokens)")
        }
        let model = try Transformer<Float>(config: config, plan: plan)
        model.initializeWeights(seed: seed)
        let trainer = try Trainer(model: model, options: options, train: split.train, validation: split.validation)
        trainer.checkpointDirectory = runDirectory.url.appendingPathComponent("checkpoints").path
        trainer.checkpointDType = checkpointDType
        if let file = TokenizerFile(spec: tokenizerSpec) {
            // tokenizer.json under its Hugging Face name; a SentencePiece file keeps its own (spiece.model, tokenizer.model).
            trainer.checkpointAttachments = [(file.source, file.name)]
        }

        if let checkpoint {
            try TrainingCheckpoint.restore(trainer, from: checkpoint)
            try runDirectory.resumeMetrics(afterStep: trainer.step)
        } else {
            try runDirectory.writeJSON(RunRecord(
                command: command, model: modelOptions.model ?? "", config: config, normPlan: plan,
                training: options, data: data, tokenizer: tokenizer.name, packing: packing,
                validationFraction: valFraction, threads: Parallel.threadCount,
                parameters: model.parameterCount), to: "run.json")
            try runDirectory.startMetrics()
        }
        Interrupt.install()
        var progress = ProgressRenderer(label: plan.scheme)
        var writeError: Error?
        let summary = try trainer.run(stopAfter: stopAfter, shouldStop: { Interrupt.requested }) { event in
            progress.show(event)
            do {
                switch event {
                case .step(let record): try runDirectory.appendMetric(event: "step", record)
                case .eval(let record): try runDirectory.appendMetric(event: "eval", record)
                case .diverged(let record): try runDirectory.appendMetric(event: "diverged", record)
                case .checkpoint(let record): try runDirectory.appendMetric(event: "checkpoint", record)
                case .done(let record): try runDirectory.appendMetric(event: "done", record)
                case .started(let record): try runDirectory.appendMetric(event: "started", record)
                }
            } catch { writeError = writeError ?? error }
        }
        if let writeError { throw CLIError("writing metrics failed: \(writeError)") }
        try runDirectory.writeJSON(summary, to: "summary.json")
        return (summary, plan.scheme)
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

/// What `run.json` records: enough to rerun or to rebuild the model exactly.
struct RunRecord: Encodable {
    let command: [String]
    let model: String
    let config: ModelConfig
    let normPlan: NormPlan
    let training: TrainingOptions
    let data: String
    let tokenizer: String
    let packing: Bool
    let validationFraction: Double
    let threads: Int
    let parameters: Int

    enum CodingKeys: String, CodingKey {
        case command, model, config, normPlan = "norm_plan", training, data, tokenizer, packing
        case validationFraction = "validation_fraction", threads, parameters
    }
}
