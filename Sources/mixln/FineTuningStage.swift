import ArgumentParser
import Foundation
import MixLNTrain

/// A command that fine-tunes a checkpoint (`--checkpoint`) into a run directory (`--out`): what
/// `compare` runs in-process, as one stage of its downstream pipeline, after pre-training.
protocol FineTuningCommand: ParsableCommand {
    /// Checks the options and reads the command's data without loading a model, so that bad input
    /// stops `compare` before it trains anything.
    func validateInputs() throws

    /// Fine-tunes `--checkpoint` into `--out`, recording `command` in the run's `run.json`; prints
    /// nothing on stdout.
    func fineTune(command: [String]) throws -> TrainingSummary
}

extension FineTuningCommand {
    /// Prints a finished run on stdout: its summary as one JSON document with `json`, else one line
    /// naming the command, with `evaluation`'s words for the last held-out evaluation when there is one.
    func printSummary(_ summary: TrainingSummary, json: Bool, evaluation: (EvalRecord) -> String) throws {
        let name = Self.configuration.commandName ?? "fine-tuning"
        if json {
            try JSONCoding.printDocument(summary)
        } else if let eval = summary.finalEval {
            print("\(name): \(summary.status.rawValue) after \(summary.steps) steps; \(evaluation(eval))")
        } else {
            print("\(name): \(summary.status.rawValue) after \(summary.steps) steps; final training loss \(summary.finalLoss.map { fixed($0, 4) } ?? "n/a")")
        }
    }
}

/// One stage of `compare`'s downstream pipeline: a fine-tuning command (`sft`, `dpo`) with options that are
/// the same for every run, started from the previous stage's model (the pre-trained run for the
/// first) and written to `<run>/<method>/`.
///
/// A stage whose `summary.json` says completed or diverged is not run again. Fine-tuning runs do not
/// resume, so one that was interrupted (no summary, or a stopped one) is deleted and run again from
/// the start.
struct FineTuningStage {
    /// What one run's stage produced, as `compare.json` lists it.
    struct Result: Codable, Equatable {
        /// The subcommand (`sft`, `dpo`).
        var method: String
        /// The stage's run directory.
        var path: String
        var status: String
        var steps: Int
        /// The loss on the held-out records at the end (nil without a validation split).
        var validationLoss: Double?

        var completed: Bool { status == TrainingSummary.Status.completed.rawValue }

        enum CodingKeys: String, CodingKey { case method, path, status, steps, validationLoss = "validation_loss" }
    }

    /// The subcommand's name, which is also the stage's folder inside each run (`sft`, `dpo`).
    let method: String
    let command: any FineTuningCommand.Type
    /// The command's options other than `--checkpoint` and `--out`.
    let arguments: [String]

    /// The command line of the stage that fine-tunes `base` into `folder`.
    func commandLine(from base: String, into folder: String) -> [String] {
        ["mixln", method, "--checkpoint", base, "--out", folder] + arguments
    }

    /// Parses the stage's options and reads its data (see `FineTuningCommand.validateInputs`).
    func validate() throws {
        try parse(from: "<run>", into: "<run>/\(method)").validateInputs()
    }

    /// Fine-tunes `base` into `folder` unless that stage already finished there.
    func run(from base: String, into folder: String, label: String) throws -> Result {
        let expected = commandLine(from: base, into: folder)
        let summary: TrainingSummary
        if let existing = Comparison.summary(of: folder), existing.status != .stopped {
            Comparison.warnIfTrainedOtherwise(folder, label: label, expected: expected)
            progressLine("\(label): \(existing.status.rawValue) after \(existing.steps) steps (summary.json); not fine-tuned again")
            summary = existing
        } else {
            if FileManager.default.fileExists(atPath: folder) {
                progressLine("\(label): an unfinished \(method) run is there; starting it again from the beginning")
                try FileManager.default.removeItem(atPath: folder)
            }
            progressLine("\(label): \(method) from \(base)")
            summary = try parse(from: base, into: folder).fineTune(command: expected)
            if summary.status == .stopped {
                throw CLIError("interrupted during \(label) at step \(summary.steps); run the same command again to start it over")
            }
        }
        return Result(method: method, path: folder, status: summary.status.rawValue, steps: summary.steps,
                      validationLoss: summary.finalEval?.loss)
    }

    private func parse(from base: String, into folder: String) throws -> any FineTuningCommand {
        let arguments = Array(commandLine(from: base, into: folder).dropFirst(2))
        do {
            return try command.parse(arguments)
        } catch {
            throw CLIError("\(method) options: \(command.message(for: error))")
        }
    }
}
