import ArgumentParser
import Foundation
import MixLNAnalysis
import MixLNTensor

/// `mixln eval-mc`: multiple-choice benchmark accuracy, scored as lm-evaluation-harness does.
struct EvalMCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-mc",
        abstract: "Multiple-choice accuracy (acc, acc_norm) of a checkpoint on benchmark task files, scored as lm-evaluation-harness does.",
        discussion: """
        Each choice is scored by the summed log-likelihood of its continuation given its context \
        (context + continuation encoded as one text and split at the context's token count; a \
        context's trailing whitespace moves to the continuation; a BOS only where the tokenizer \
        prepends one; contexts cut from the left to the model's window). acc: the highest sum is \
        the gold choice; acc_norm: the highest sum per character of the answer.

        Task files (plain or .gz), one layout per file: the request layout of lm-evaluation-harness \
        and OLMES (one line per question and choice: "request": {"context", "continuation"}, \
        "doc_id", "idx", "label"; doc_id ≥ 1000000, the unconditional requests, are skipped), or \
        one question per line: {"context", "choices": [...], "gold"} (each choice is scored as \
        target_delimiter + choice, target_delimiter " " unless the record sets it). \
        scripts/get-eval-data.sh fetches ARC, HellaSwag, PIQA, … and MMLU in these layouts.
        """)

    @OptionGroup var input: ModelInput

    @Option(parsing: .upToNextOption, help: "Task files (JSONL or JSONL.GZ), one task each.")
    var tasks: [String]

    @Option(help: "Score only the first N questions of each file, in file order.")
    var limit: Int?

    @Option(help: "Padded tokens per forward pass (choices per batch = this / their length).")
    var batchTokens: Int = TaskFiles.defaultBatchTokens

    @Option(help: "Write one JSON line per question: {task, doc_id, gold, loglikelihoods, pred, pred_norm}.")
    var items: String?

    @Flag(help: "Print {\"tasks\": [{task, n, acc, acc_stderr, acc_norm, acc_norm_stderr, file}]} as one JSON document on stdout.")
    var json = false

    func validate() throws {
        guard !tasks.isEmpty else { throw ValidationError("--tasks needs at least one task file") }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
        guard batchTokens > 0 else { throw ValidationError("--batch-tokens must be positive, got \(batchTokens)") }
    }

    func run() throws {
        let model = try input.loadModel()
        let tokenizer = try input.loadTokenizer(for: model)
        let encoded = try TaskFiles.load(tasks, limit: limit, tokenizer: tokenizer, window: model.config.maxSequenceLength)
        let report = try MultipleChoiceEvaluation.run(model, tasks: encoded, batchTokens: batchTokens,
                                                      progress: StatusLine.bar("eval-mc", unit: "choices"))
        if let items {
            let lines = try report.items.map { String(decoding: try JSONCoding.compact.encode($0), as: UTF8.self) }
            try AtomicFile.write(Data(lines.map { $0 + "\n" }.joined().utf8), to: items)
        }
        if json {
            try JSONCoding.printDocument(report)
            return
        }
        let width = max(4, report.tasks.map(\.task.count).max() ?? 0)
        print("task".padding(toLength: width, withPad: " ", startingAt: 0) + "      n  acc              acc_norm          file")
        for task in report.tasks {
            print(task.task.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: " %6d  %.4f ± %.4f  %.4f ± %.4f  ", task.n, task.acc, task.accStderr, task.accNorm, task.accNormStderr)
                  + task.file)
        }
    }
}
