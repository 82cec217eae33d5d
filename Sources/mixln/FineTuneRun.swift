import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// What `sft` and `dpo` share around their own records and objective: the vocabulary check of the
/// built sequences, the note on dropped records, `run.json` with its `fine_tuning` section, and the
/// run directory the Trainer writes into.
struct FineTuneRun {
    let input: ModelInput
    let schedule: FineTuneOptions
    /// `--data` as given.
    let data: String

    /// The model to fine-tune (fp32 weights, for a backward), the tokenizer that encodes its records,
    /// and the training options, the run's precision included (the Trainer sets the model's from them).
    func start() throws -> (model: Transformer<Float>, tokenizer: any Tokenizer, options: TrainingOptions) {
        let model = try input.loadModel(needsGradients: true)
        let tokenizer = try input.loadTokenizer(for: model)
        var options = try schedule.trainingOptions(maxSequenceLength: model.config.maxSequenceLength)
        options.precision = try input.model.precisionOptions.resolved()
        return (model, tokenizer, options)
    }

    /// Throws naming the record's line when `sequence` holds an id the model has no row for.
    func checkVocabulary(_ sequence: TokenSequence, line: Int, model: Transformer<Float>) throws {
        if let bad = sequence.tokens.first(where: { Int($0) >= model.config.vocabSize }) {
            throw CLIError("\(data):\(line): token id \(bad) is outside the model's vocabulary of \(model.config.vocabSize)")
        }
    }

    /// Says on stderr how many records were dropped and why; throws (saying only that) when none is left to train on.
    func noteDropped(_ dropped: Int, of total: Int, kept train: Int, why: String) throws {
        guard train > 0 else { throw CLIError("\(data): no training record is left (\(why))") }
        if dropped > 0 { progressLine("\(dropped) of \(total) records dropped: \(why)") }
    }

    /// The run's record: `command`, the model, `options`, and what the fine-tuning started from.
    func record(command: [String], model: Transformer<Float>, tokenizer: any Tokenizer, options: TrainingOptions, method: String, template: ChatTemplate,
                beta: Double? = nil, trainRecords: Int, validationRecords: Int, droppedRecords: Int) throws -> RunRecord {
        let folder = try CheckpointInput.modelFolder(input.checkpoint)
        let tokenizerSpecification = tokenizerSpec(try input.tokenizer ?? recordedTokenizer(checkpoint: input.checkpoint) ?? "byte")
        var record = RunRecord(
            version: RunRecord.currentVersion, command: command,
            modelOptions: .init(model: absolutePath(folder), norm: input.model.norm, postNum: input.model.postNum, layers: nil, vocabSize: nil),
            config: model.config, normPlan: model.plan, training: options, data: absolutePath(data), tokenizer: tokenizerSpecification,
            tokenizerName: tokenizer.name, packing: false, validationFraction: schedule.valFraction,
            threads: Parallel.threadCount, saveDType: schedule.saveDtype, parameters: model.parameterCount, resumes: [])
        record.fineTuning = .init(method: method, base: absolutePath(folder), template: template.rawValue, beta: beta,
                                  trainRecords: trainRecords, validationRecords: validationRecords, droppedRecords: droppedRecords)
        return record
    }

    /// Creates the run directory (`--out`), writes `run.json`, and runs the Trainer `makeTrainer`
    /// builds, its checkpoints under `checkpoints/` with the tokenizer file attached.
    func train(_ record: RunRecord, label: String, makeTrainer: () throws -> Trainer) throws -> TrainingSummary {
        let runDirectory = try RunDirectory(path: schedule.out)
        let trainer = try makeTrainer()
        trainer.checkpointDirectory = runDirectory.url.appendingPathComponent("checkpoints").path
        trainer.checkpointDType = try record.checkpointDType
        if let file = TokenizerFile(spec: record.tokenizer) { trainer.checkpointAttachments = [(file.source, file.name)] }
        try runDirectory.writeJSON(record, to: "run.json")
        try runDirectory.startMetrics()
        return try runTrainer(trainer, in: runDirectory, label: label, stopAfter: schedule.stopAfter)
    }
}

extension RunRecord {
    /// What a fine-tuning run started from and how it read its records (`run.json` `fine_tuning`).
    struct FineTuning: Codable, Equatable {
        /// `sft` or `dpo`.
        var method: String
        /// The checkpoint folder the run started from, absolute.
        var base: String
        var template: String
        /// DPO's β (nil for `sft`).
        var beta: Double? = nil
        /// Records (DPO: pairs) trained on and held out.
        var trainRecords: Int
        var validationRecords: Int
        /// Records with no reply token within the sequence length (DPO: also pairs identical within it).
        var droppedRecords: Int

        enum CodingKeys: String, CodingKey {
            case method, base, template, beta, trainRecords = "train_records", validationRecords = "validation_records"
            case droppedRecords = "dropped_records"
        }
    }
}
