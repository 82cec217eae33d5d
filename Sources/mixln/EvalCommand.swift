import ArgumentParser
import Foundation
import MixLNAnalysis

/// `mixln eval`: loss and perplexity of a checkpoint on some data.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Loss and perplexity of a checkpoint (mean over every predicted, non-padding token).")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Print {\"loss\", \"perplexity\", \"tokens\"} as one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        let batches = try input.batches(for: model)
        let result = try Evaluation.evaluate(model, batches: batches, progress: StatusLine.progress("eval"))
        if json {
            try JSONCoding.printDocument(result)
        } else {
            print("loss \(fixed(result.loss, 4))  perplexity \(fixed(result.perplexity, 2))  (\(result.tokens) tokens)")
        }
    }
}

/// A one-line "label i/n" progress indicator on a terminal's stderr (nothing when piped).
enum StatusLine {
    static func progress(_ label: String) -> (Int, Int) -> Void {
        guard isatty(STDERR_FILENO) != 0 else { return { _, _ in } }
        return { done, total in
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) \(done)/\(total)\(done == total ? "\n" : "")".utf8))
        }
    }
}
