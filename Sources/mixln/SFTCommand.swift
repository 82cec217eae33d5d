import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `mixln sft`: supervised fine-tuning of a trained checkpoint on instruction / chat records, the
/// loss on the replies only; writes an ordinary run directory.
struct SFTCommand: FineTuningCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning of a checkpoint on instruction or chat records, the loss on the replies only.",
        discussion: """
        Records (a JSON array file or JSONL): Alpaca {"instruction", "input", "output"}, \
        {"prompt", "response"}, chat {"messages": [{"role", "content"}, …]} or ShareGPT \
        {"conversations": [{"from", "value"}, …]}; "system" is optional in each. --template \
        renders them as text (alpaca, chatml, plain); every token is attended to, only reply \
        tokens (and the EOS after each reply, for alpaca and plain) are targets. Records longer \
        than --seq-len are cut; one whose replies are all cut off is dropped (said on stderr). \
        The run directory (run.json, metrics.jsonl, checkpoints/) works with eval, eval-mc, \
        analyze, generate and report like a pre-training run's.
        """)

    @OptionGroup var input: ModelInput

    @Option(help: "Fine-tuning records: a JSON array file or JSONL (Alpaca, prompt/response, chat messages or ShareGPT).")
    var data: String

    @Option(help: "How turns become text: \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")).")
    var template: ChatTemplate = .alpaca

    @OptionGroup var schedule: FineTuneOptions

    @Flag(help: "Print the summary as one JSON document on stdout.") var json = false

    func run() throws {
        let summary = try fineTune(command: CommandLine.arguments)
        if json {
            try JSONCoding.printDocument(summary)
        } else if let eval = summary.finalEval {
            print("sft: \(summary.status.rawValue) after \(summary.steps) steps; validation loss (replies) \(fixed(eval.loss, 4)), perplexity \(fixed(eval.perplexity, 2))")
        } else {
            print("sft: \(summary.status.rawValue) after \(summary.steps) steps; final training loss \(summary.finalLoss.map { fixed($0, 4) } ?? "n/a")")
        }
    }

    func validateInputs() throws {
        _ = try schedule.trainingOptions(maxSequenceLength: .max)
        _ = try ConversationReader.read(path: data)
    }

    /// Fine-tunes into `--out`, recording `command` in its `run.json`; prints nothing on stdout.
    func fineTune(command: [String]) throws -> TrainingSummary {
        let model = try input.loadModel(needsGradients: true)
        let tokenizer = try input.loadTokenizer(for: model)
        var options = try schedule.trainingOptions(maxSequenceLength: model.config.maxSequenceLength)
        options.precision = try input.model.precisionOptions.resolved()  // recorded in run.json; the Trainer sets the model's
        let conversations = try ConversationReader.read(path: data)
        let sequenceOptions = SequenceOptions(seqLen: options.seqLen, vocabularySize: model.config.vocabSize)
        let parts = DatasetSplitter.split(conversations, validationFraction: schedule.valFraction, seed: options.seed)
        func sequences(_ part: [Conversation]) throws -> [TokenSequence] {
            try part.compactMap { conversation in
                let sequence = SupervisedSequence.build(conversation, template: template, tokenizer: tokenizer, options: sequenceOptions)
                if let bad = sequence?.tokens.first(where: { Int($0) >= model.config.vocabSize }) {
                    throw CLIError("\(data):\(conversation.line): token id \(bad) is outside the model's vocabulary of \(model.config.vocabSize)")
                }
                return sequence
            }
        }
        let train = try sequences(parts.train), validation = try sequences(parts.validation)
        let dropped = conversations.count - train.count - validation.count
        if dropped > 0 {
            progressLine("\(dropped) of \(conversations.count) records dropped: no reply token within --seq-len \(options.seqLen)")
        }
        guard train.count > 0 else { throw CLIError("\(data): no training record has a reply within --seq-len \(options.seqLen)") }

        let folder = try CheckpointInput.modelFolder(input.checkpoint)
        let tokenizerSpecification = tokenizerSpec(try input.tokenizer ?? recordedTokenizer(checkpoint: input.checkpoint) ?? "byte")
        var record = RunRecord(
            version: RunRecord.currentVersion, command: command,
            modelOptions: .init(model: absolutePath(folder), norm: input.model.norm, postNum: input.model.postNum, layers: nil, vocabSize: nil),
            config: model.config, normPlan: model.plan, training: options, data: absolutePath(data), tokenizer: tokenizerSpecification,
            tokenizerName: tokenizer.name, packing: false, validationFraction: schedule.valFraction,
            threads: Parallel.threadCount, saveDType: schedule.saveDtype, parameters: model.parameterCount, resumes: [])
        record.fineTuning = .init(method: "sft", base: absolutePath(folder), template: template.rawValue,
                                  trainRecords: train.count, validationRecords: validation.count, droppedRecords: dropped)

        let runDirectory = try RunDirectory(path: schedule.out)
        let trainer = try Trainer(model: model, options: options, train: train, validation: validation)
        trainer.checkpointDirectory = runDirectory.url.appendingPathComponent("checkpoints").path
        trainer.checkpointDType = try record.checkpointDType
        if let file = TokenizerFile(spec: record.tokenizer) { trainer.checkpointAttachments = [(file.source, file.name)] }
        try runDirectory.writeJSON(record, to: "run.json")
        try runDirectory.startMetrics()
        return try runTrainer(trainer, in: runDirectory, label: "sft", stopAfter: schedule.stopAfter)
    }
}

extension ChatTemplate: ExpressibleByArgument {}

extension RunRecord {
    /// What a fine-tuning run started from and how it read its records (`run.json` `fine_tuning`).
    struct FineTuning: Codable, Equatable {
        /// `sft`.
        var method: String
        /// The checkpoint folder the run started from, absolute.
        var base: String
        var template: String
        var trainRecords: Int
        var validationRecords: Int
        /// Records with no reply token within the sequence length.
        var droppedRecords: Int

        enum CodingKeys: String, CodingKey {
            case method, base, template, trainRecords = "train_records", validationRecords = "validation_records"
            case droppedRecords = "dropped_records"
        }
    }
}
