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
        try printSummary(try fineTune(command: CommandLine.arguments), json: json) { eval in
            "validation loss (replies) \(fixed(eval.loss, 4)), perplexity \(fixed(eval.perplexity, 2))"
        }
    }

    func validateInputs() throws {
        _ = try schedule.trainingOptions(maxSequenceLength: .max)
        _ = try ConversationReader.read(path: data)
    }

    /// Fine-tunes into `--out`, recording `command` in its `run.json`; prints nothing on stdout.
    func fineTune(command: [String]) throws -> TrainingSummary {
        let run = FineTuneRun(input: input, schedule: schedule, data: data)
        let (model, tokenizer, options) = try run.start()
        let conversations = try ConversationReader.read(path: data)
        let sequenceOptions = SequenceOptions(seqLen: options.seqLen, vocabularySize: model.config.vocabSize)
        let parts = DatasetSplitter.split(conversations, validationFraction: schedule.valFraction, seed: options.seed)
        func sequences(_ part: [Conversation]) throws -> [TokenSequence] {
            try part.compactMap { conversation in
                let sequence = SupervisedSequence.build(conversation, template: template, tokenizer: tokenizer, options: sequenceOptions)
                if let sequence { try run.checkVocabulary(sequence, line: conversation.line, model: model) }
                return sequence
            }
        }
        let train = try sequences(parts.train), validation = try sequences(parts.validation)
        let dropped = conversations.count - train.count - validation.count
        try run.noteDropped(dropped, of: conversations.count, kept: train.count, why: "no reply token within --seq-len \(options.seqLen)")
        let record = try run.record(command: command, model: model, tokenizer: tokenizer, options: options, method: "sft", template: template,
                                    trainRecords: train.count, validationRecords: validation.count, droppedRecords: dropped)
        let summary = try run.train(record, label: "sft") {
            try Trainer(model: model, options: options, train: train, validation: validation)
        }
        return summary
    }
}

extension ChatTemplate: ExpressibleByArgument {}
