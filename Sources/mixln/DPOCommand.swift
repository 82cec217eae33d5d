import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTrain

/// `mixln dpo`: direct preference optimization of a trained checkpoint on preference pairs
/// (sigmoid DPO against the frozen starting weights); writes an ordinary run directory.
struct DPOCommand: FineTuningCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Direct preference optimization (DPO) of a checkpoint on chosen / rejected reply pairs.",
        discussion: """
        Records (a JSON array file or JSONL): {"prompt", "chosen", "rejected"} or the ShareGPT pair \
        {"conversations": [{"from", "value"}, …], "chosen": {"from", "value"}, "rejected": {"from", \
        "value"}}; "system" is optional. The prompt is rendered with --template as sft renders it and \
        completed by each reply; a reply's log-probability is the sum over its tokens (and the EOS / \
        <|im_end|> after it). Loss per pair: −log σ(β·[(log πθ(c) − log πref(c)) − (log πθ(r) − log \
        πref(r))]), πref the checkpoint's weights, frozen. --batch-size and --total-batch-size count \
        pairs (two sequences each). metrics.jsonl step and eval records carry loss, rewards/chosen, \
        rewards/rejected, rewards/margins, rewards/accuracies, logps/chosen and logps/rejected.
        """)

    @OptionGroup var input: ModelInput

    @Option(help: "Preference pairs: a JSON array file or JSONL ({prompt, chosen, rejected} or ShareGPT conversations + chosen + rejected).")
    var data: String

    @Option(help: "How the prompt and replies become text: \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")).")
    var template: ChatTemplate = .alpaca

    @Option(help: "β: how strongly the policy is tied to the reference (TRL's default 0.1).")
    var beta: Double = 0.1

    @OptionGroup var schedule: FineTuneOptions

    @Flag(help: "Print the summary as one JSON document on stdout.") var json = false

    func run() throws {
        try printSummary(try fineTune(command: CommandLine.arguments), json: json) { eval in
            "validation loss \(fixed(eval.loss, 4)), reward margin \(fixed(eval.metrics["rewards/margins"] ?? .nan, 4)), "
                + "accuracy \(fixed(eval.metrics["rewards/accuracies"] ?? .nan, 3))"
        }
    }

    func validateInputs() throws {
        guard beta > 0, beta.isFinite else { throw CLIError("--beta must be positive, got \(beta)") }
        _ = try schedule.trainingOptions(maxSequenceLength: .max)
        _ = try PreferenceReader.read(path: data)
    }

    /// Fine-tunes into `--out`, recording `command` in its `run.json`; prints nothing on stdout.
    func fineTune(command: [String]) throws -> TrainingSummary {
        guard beta > 0, beta.isFinite else { throw CLIError("--beta must be positive, got \(beta)") }
        let run = FineTuneRun(input: input, schedule: schedule, data: data)
        let (model, tokenizer, options) = try run.start()
        let pairs = try PreferenceReader.read(path: data)
        let sequenceOptions = SequenceOptions(seqLen: options.seqLen, vocabularySize: model.config.vocabSize)
        let parts = DatasetSplitter.split(pairs, validationFraction: schedule.valFraction, seed: options.seed)
        /// The pairs' sequences, chosen then rejected, pair after pair.
        func sequences(_ part: [PreferencePair]) throws -> [TokenSequence] {
            var built: [TokenSequence] = []
            for pair in part {
                guard let (chosen, rejected) = pair.sequences(template: template, tokenizer: tokenizer, options: sequenceOptions) else { continue }
                try run.checkVocabulary(chosen, line: pair.line, model: model)
                try run.checkVocabulary(rejected, line: pair.line, model: model)
                built += [chosen, rejected]
            }
            return built
        }
        let train = try sequences(parts.train), validation = try sequences(parts.validation)
        let trainPairs = train.count / 2, validationPairs = validation.count / 2
        let dropped = pairs.count - trainPairs - validationPairs
        try run.noteDropped(dropped, of: pairs.count, kept: trainPairs,
                            why: "a reply with no token within --seq-len \(options.seqLen), or chosen and rejected identical within it")
        let record = try run.record(command: command, model: model, tokenizer: tokenizer, options: options, method: "dpo", template: template,
                                    beta: beta, trainRecords: trainPairs, validationRecords: validationPairs, droppedRecords: dropped)
        return try run.train(record, label: "dpo") {
            try Trainer(model: model, options: options, train: train, validation: validation,
                        objective: PreferenceObjective(startingFrom: model, beta: beta))
        }
    }
}
