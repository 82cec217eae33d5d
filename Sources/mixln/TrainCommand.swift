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
    var data: String

    @Option(help: "Tokenizer: 'byte' (256 byte ids + pad + eos).")
    var tokenizer: String = "byte"

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
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Run directory to write.") var out: String
    @Flag(help: "Print the summary as one JSON document on stdout.") var json = false

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let tokenizer = try TokenizerLoader.load(self.tokenizer)
        var config = try modelOptions.resolveConfig(tokenizerVocabulary: tokenizer.vocabularySize)
        // The official pad_token_id = -1 freezes row V−1 at zero. When the tokenizer's ids reach that
        // row (a vocabulary sized to the tokenizer), it would freeze a real token — an all-zero
        // stream that Post-LN's 1/√ε amplifies in every layer's backward — so the tokenizer's own
        // pad id is frozen instead.
        if let row = config.embeddingPaddingRow, row < tokenizer.vocabularySize, row != Int(tokenizer.padId) {
            config.padTokenId = Int(tokenizer.padId)
        }
        let plan = try modelOptions.resolvePlan(layers: config.numHiddenLayers)
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw CLIError("the tokenizer has \(tokenizer.vocabularySize) ids but the model's vocab_size is \(config.vocabSize); use --vocab-size \(tokenizer.vocabularySize) or a larger model vocabulary")
        }
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
        let options = TrainingOptions(
            steps: steps, microBatchSize: batchSize, totalBatchSize: totalBatchSize, seqLen: seqLen,
            schedule: LearningRateSchedule(kind: scheduleKind, peak: lr, warmupSteps: warmup ?? steps / 10,
                                           totalSteps: steps, minRatio: minLrRatio),
            optimizer: OptimizerSettings(kind: optimizerKind, weightDecay: weightDecay),
            clipGradNorm: clip, evalEvery: evalEvery, evalBatches: evalBatches, seed: seed)
        try options.validate()
        let runDirectory = try RunDirectory(path: out)

        let split = try loadSplit(tokenizer: tokenizer, modelVocabulary: config.vocabSize,
                                  options: SequenceOptions(seqLen: seqLen, packing: packing))
        guard !split.train.isEmpty else {
            throw CLIError("\(data): no training sequences (every document is shorter than 2 tokens)")
        }
        let model = try Transformer<Float>(config: config, plan: plan)
        model.initializeWeights(seed: seed)
        let trainer = try Trainer(model: model, options: options, train: split.train, validation: split.validation)

        try runDirectory.writeJSON(RunRecord(
            command: CommandLine.arguments, model: modelOptions.model, config: config, normPlan: plan,
            training: options, data: data, tokenizer: tokenizer.name, packing: packing,
            validationFraction: valFraction, threads: Parallel.threadCount,
            parameters: model.parameterCount), to: "run.json")
        try runDirectory.startMetrics()
        var progress = ProgressRenderer(label: plan.scheme)
        var writeError: Error?
        let summary = try trainer.run { event in
            progress.show(event)
            do {
                switch event {
                case .step(let record): try runDirectory.appendMetric(event: "step", record)
                case .eval(let record): try runDirectory.appendMetric(event: "eval", record)
                case .diverged(let record): try runDirectory.appendMetric(event: "diverged", record)
                case .done(let record): try runDirectory.appendMetric(event: "done", record)
                case .started(let record): try runDirectory.appendMetric(event: "started", record)
                }
            } catch { writeError = writeError ?? error }
        }
        if let writeError { throw CLIError("writing metrics failed: \(writeError)") }
        try runDirectory.writeJSON(summary, to: "summary.json")
        if json {
            print(String(decoding: try JSONCoding.compact.encode(summary), as: UTF8.self))
        } else if let eval = summary.finalEval {
            print("\(plan.scheme): \(summary.status.rawValue) after \(summary.steps) steps; validation loss \(fixed(eval.loss, 4)), perplexity \(fixed(eval.perplexity, 2))")
        } else {
            print("\(plan.scheme): \(summary.status.rawValue) after \(summary.steps) steps; final training loss \(summary.finalLoss.map { fixed($0, 4) } ?? "n/a")")
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

/// Turns `--tokenizer` into a tokenizer.
enum TokenizerLoader {
    static func load(_ name: String) throws -> any Tokenizer {
        switch name {
        case "byte": return ByteTokenizer()
        default:
            throw CLIError("unsupported tokenizer '\(name)': only 'byte' is available so far (SentencePiece and tokenizer.json files are not read yet)")
        }
    }
}
